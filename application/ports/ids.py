from typing import Protocol
from uuid import UUID


class IdGenerator(Protocol):
    def new_id(self) -> UUID:
        """A fresh id; ids made later sort after ids made earlier in the same process."""
        ...
