"""AM302 false-positive class seen on real code: a commit that ends its path."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Draft, Item


def check(doc: str) -> None:
    if not doc:
        raise ValueError("empty")


async def archive(db: AsyncSession, item_id: int, hard: bool) -> None:
    item = await db.get(Item, item_id)
    if hard:
        await db.delete(item)
        await db.commit()  # ok
        return
    item.archived = True
    await db.commit()  # ok


async def publish(db: AsyncSession, draft: Draft, doc: str) -> None:
    try:
        check(doc)
    except ValueError:
        await db.delete(draft)
        await db.commit()  # ok
        raise
    draft.body = doc
    db.add(draft)
    await db.commit()  # ok


async def remove(db: AsyncSession, item: Item, commit: bool = True) -> None:
    if item is not None:
        await db.delete(item)
        if commit:
            await db.commit()  # ok
        return
    db.add(Item(name="placeholder"))
    await db.commit()  # ok


async def really_split(db: AsyncSession, a: Item, b: Item) -> None:
    db.add(a)
    await db.commit()  # expect: AM302
    db.add(b)
    await db.commit()
