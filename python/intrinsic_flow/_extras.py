"""How to install an optional dependency, in the words of every error that needs one."""


def install_hint(extra: str) -> str:
    """``pip install`` of the extra ``extra``, from the package index and from a source checkout
    (the README installs from the checkout: ``pip install ".[extra]"``)."""
    return f'pip install "intrinsic-flow[{extra}]" (from a source checkout: pip install ".[{extra}]")'
