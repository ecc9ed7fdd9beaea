"""A small bank service: the AM501 input of ``test_runtime_am501_pg`` (the test fixes a
copy of this file with asyncmend and runs both versions against PostgreSQL)."""

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int]


async def transfer(session: AsyncSession, from_id: int, to_id: int, amount: int) -> None:
    source = await session.get(Account, from_id, with_for_update=True)
    target = await session.get(Account, to_id, with_for_update=True)
    if source is None or target is None:
        raise LookupError("account not found")
    if source.balance < amount:
        raise ValueError(f"account {from_id} holds {source.balance}, needs {amount}")
    source.balance -= amount
    target.balance += amount
    await session.commit()
