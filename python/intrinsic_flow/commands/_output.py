"""A report folder written all or nothing, for ``report`` and ``reproduce``.

The report is written into a hidden temporary folder first (inside ``--out`` when it exists, else
beside the folder that will hold it, so that every move is a rename on one file system). Only when
it is complete does it take the place of the previous report: a new ``--out`` is one rename; in an
existing one the report's own files (report.html, report.md, figures/figure-*.png, theory/*.md)
are swapped in and the previous report's left-over figures removed, leaving every other file alone.
A Ctrl-C or an error before that leaves ``--out`` as it was and no temporary folder; a Ctrl-C
during the swap (a few renames) is held until the swap is done.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import signal
import tempfile
import threading

LAYOUT = "the report is a folder (report.html, report.md, figures/)"
_OWN_FIGURE = re.compile(r"figure-\d+-\d+\.png")


class ReportFolder:
    """``with ReportFolder(out) as folder: ... folder.commit(report)``.

    Creating it checks ``out`` (a folder, or creatable) and makes the temporary folder, so a bad
    ``--out`` fails before any work. Leaving the ``with`` block removes the temporary folder; a
    KeyboardInterrupt leaves it with a message saying that ``out`` is unchanged.
    """

    def __init__(self, out) -> None:
        if not str(out).strip():  # most likely an unset variable; the report would land in the current folder
            raise ValueError(f"--out {str(out)!r} is empty; give a folder, e.g. --out intrinsic-flow-report")
        self.out = pathlib.Path(out)
        shown = repr(str(self.out))
        existing = self.out.absolute()
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise NotADirectoryError(f"--out {shown}: {str(existing)!r} is a file, not a folder; {LAYOUT}")
        self.existed = existing == self.out.absolute()
        try:
            self.temporary = pathlib.Path(tempfile.mkdtemp(prefix=f".{self.out.name or 'report'}.partial-",
                                                           dir=existing))
        except OSError as error:
            raise type(error)(f"--out {shown}: cannot write in {str(existing)!r} ({error.strerror})") from None

    def __enter__(self) -> "ReportFolder":
        return self

    def __exit__(self, kind, error, trace) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)
        if kind is not None and issubclass(kind, KeyboardInterrupt) and not str(error):
            state = (f"the previous report in {str(self.out)!r} is unchanged" if self.existed
                     else f"nothing was written to {str(self.out)!r}")
            raise KeyboardInterrupt(f"interrupted; {state}") from None

    def commit(self, report) -> pathlib.Path:
        """Write report (a :class:`~intrinsic_flow.report.Report`) to the temporary folder, then put
        it in place of out's report; returns the path of out/report.html."""
        report.write(self.temporary)
        with _interrupt_held() as held:
            if self.out.exists():
                self._swap()
            else:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                self.temporary.chmod(0o777 & ~_umask())  # mkdtemp's folder is private; a new folder is not
                os.rename(self.temporary, self.out)
        if held:
            raise KeyboardInterrupt(f"interrupted after the report was written to {str(self.out)!r}")
        return self.out / "report.html"

    def _swap(self) -> None:
        """Move out's report files into the temporary folder's .previous/, the new ones into out;
        undo every move if one fails."""
        new = sorted((p.relative_to(self.temporary) for p in self.temporary.rglob("*") if p.is_file()),
                     key=lambda p: (p.name == "report.html", str(p)))  # the page last, after what it shows
        previous = self.temporary / ".previous"
        old = [p for p in new if (self.out / p).is_file()] + self._stale(set(new))
        moves = []
        try:
            for p in old:
                (previous / p).parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.out / p, previous / p)
                moves.append((self.out / p, previous / p))
            for p in new:
                (self.out / p).parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.temporary / p, self.out / p)
                moves.append((self.temporary / p, self.out / p))
        except BaseException:
            for source, target in reversed(moves):
                os.replace(target, source)
            raise
        for folder in ("figures", "theory"):  # emptied of the previous report's files
            with contextlib.suppress(OSError):
                (self.out / folder).rmdir()

    def _stale(self, new: set) -> list:
        """The previous report's files in out that the new report does not have."""
        from ..report import THEORY_FOLDER, theory_source

        try:
            pages = {p.name for p in theory_source().glob("*.md")}
        except FileNotFoundError:
            pages = set()
        own = [pathlib.Path("figures", p.name) for p in (self.out / "figures").glob("figure-*.png")
               if _OWN_FIGURE.fullmatch(p.name)]
        own += [pathlib.Path(THEORY_FOLDER, p.name) for p in (self.out / THEORY_FOLDER).glob("*.md") if p.name in pages]
        return sorted(p for p in own if p not in new and (self.out / p).is_file())


@contextlib.contextmanager
def _interrupt_held():
    """Hold SIGINT (in the main thread) while the block runs; yields a list that is non-empty when
    one arrived."""
    held = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.signal(signal.SIGINT, lambda *_: held.append(True))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
