"""`intrinsic-flow scan`: placeholder, filled by its issue."""


def register(subparsers) -> None:
    return None
