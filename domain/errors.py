"""Named rule violations. Entrypoints map them to client errors; they never carry secrets."""


class DomainError(Exception):
    """A business rule refused an operation."""


class InvalidField(DomainError):
    """A value breaks a rule of its field; `field` names it for the client."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class IllegalTransition(DomainError):
    """An entity was asked to move to a state its state machine does not allow from where it is."""

    def __init__(self, entity: str, current: str, wanted: str) -> None:
        super().__init__(f"{entity} cannot go from {current} to {wanted}")
        self.entity = entity
        self.current = current
        self.wanted = wanted
