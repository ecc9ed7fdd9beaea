"""AM204 false-positive class seen on real code: a sync Session held on `self`."""

from sqlalchemy import inspect


class SchemaTool:
    def __init__(self, session):
        self.session = session

    def tables(self) -> list[str]:
        return inspect(self.session.get_bind()).get_table_names()

    def release_locks(self) -> None:
        self.session.commit()  # ok
