"""The restore kit every disc carries: RESTORE.txt and SHA256SUMS.txt.

RESTORE.txt tells a person, decades from now and without icefloe, how to get the files back
with stock 7-Zip on Windows, macOS and Linux: which disc this is, which volumes are on which
disc, how to check them and how to extract them. It is plain ASCII wrapped at 72 columns.
SHA256SUMS.txt is in the format ``sha256sum -c`` and ``shasum -a 256 -c`` read, and is the
same on every disc of a set. Both are described in docs/disc.md (kit version 1).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

RESTORE_NAME = "RESTORE.txt"
SUMS_NAME = "SHA256SUMS.txt"
KIT_VERSION = 1
WIDTH = 72


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")


def _para(text: str, indent: str = "") -> str:
    return textwrap.fill(
        " ".join(text.split()), WIDTH, initial_indent=indent, subsequent_indent=indent,
        break_long_words=False, break_on_hyphens=False,
    )


def _heading(text: str) -> str:
    return f"{text}\n{'-' * len(text)}"


def _gb(nbytes: int) -> str:
    return f"{max(nbytes / 1e9, 0.01):.2f} GB"


def restore_text(
    *,
    set_name: str,
    disc_index: int,
    disc_count: int,
    discs: Sequence[Sequence[str]],
    companions: Sequence[str] = (),
    encrypted: bool | None = None,
    total_bytes: int = 0,
    created: str = "",
    par2_name: str | None = None,
    redundancy: float = 0.0,
) -> str:
    """RESTORE.txt for disc ``disc_index`` (1-based) of a set whose volumes are ``discs``.

    ``par2_name`` is the disc's PAR2 index file, when the disc carries recovery data of at
    least ``redundancy`` of its data.
    """
    discs = [[_ascii(v) for v in vols] for vols in discs]
    first = discs[0][0] if discs and discs[0] else "the first volume"
    set_name = _ascii(set_name)
    many = disc_count > 1
    out: list[str] = []
    title = "HOW TO RESTORE THE FILES ON THIS DISC" + (" SET" if many else "")
    out += [title, "=" * len(title), ""]
    out += [
        f"Set:        {set_name}",
        f"This disc:  disc {disc_index} of {disc_count}",
        f"Written:    {created or 'see the disc date'} by icefloe (restore kit {KIT_VERSION})",
        "",
        _heading("What is here"),
    ]
    if many:
        out.append(_para(
            f"The files of this set are in one 7-Zip archive split into volumes, spread over "
            f"{disc_count} discs. You need every volume from every disc to restore. Every disc "
            "carries the manifest and this text, so any one disc tells what the whole set holds."
        ))
    else:
        out.append(_para(
            "The files of this set are in a 7-Zip archive (possibly split into volumes); all of "
            "them are on this disc."
        ))
    out.append("")
    for i, vols in enumerate(discs, start=1):
        here = "   <- this disc" if i == disc_index else ""
        out.append(f"  disc {i} of {disc_count}:{here}")
        out += [f"      {v}" for v in vols] or ["      (no volumes)"]
    out.append("")
    for name in companions:
        out.append(f"  {_ascii(name)}")
        if name.endswith(".7z"):
            out.append(_para("the manifest: every file of the set with its size, time and "
                             "SHA-256 checksum (JSON text), encrypted like the archive: 7-Zip "
                             "opens it with the same password", "      "))
        else:
            out.append(_para("the manifest: every file of the set with its size, time and "
                             "SHA-256 checksum (JSON text)", "      "))
    out += [f"  {SUMS_NAME}", _para("SHA-256 checksums of all volumes and the manifest, the "
                                    "same on every disc", "      ")]
    if par2_name:
        stem = _ascii(par2_name).removesuffix(".par2")
        out += [f"  {stem}.par2", f"  {stem}.vol*.par2", _para(
            "PAR2 recovery data for the files on this disc: it repairs them when the disc "
            "is scratched or fading (step 3)", "      ")]
    out += [f"  {RESTORE_NAME}", "      this text", ""]
    if encrypted:
        out.append(_para(
            "The archive and the manifest are ENCRYPTED. 7-Zip asks for their password, which "
            "is not on these discs: it is wherever the family keeps its passwords. Without it "
            "the files cannot be read, not even their names. Readable without it: this text, "
            f"{SUMS_NAME}, and the names of the archive files, which tell only the set's name "
            "and date."
        ))
    elif encrypted is False:
        out.append(_para("The archive is not encrypted: no password is needed."))
    else:
        out.append(_para("If 7-Zip asks for a password, the archive is encrypted; the password "
                         "is not on these discs."))
    room = f" (about {_gb(2 * total_bytes)}: the volumes plus the restored files)" if total_bytes else ""
    out += [
        "",
        _heading("1. Copy everything into one folder"),
        _para(
            f"Make an empty folder on a disk with enough room{room}. Insert each disc in turn; "
            "it opens like a USB stick on Windows, macOS and Linux. Copy every file from "
            "every disc into that one folder. The manifest and SHA256SUMS.txt are the same on "
            "every disc, so overwriting them is fine."
        ),
        "",
        _heading("2. Check the copies (recommended)"),
        _para("Open a terminal in that folder and run:"),
        "",
        f"  Linux:    sha256sum -c {SUMS_NAME}",
        f"  macOS:    shasum -a 256 -c {SUMS_NAME}",
        f"  Windows:  certutil -hashfile {first} SHA256",
        "",
        _para(
            "On Linux and macOS every line must end in OK. On Windows compare the number "
            f"certutil prints with the line for that file in {SUMS_NAME}, one file at a time. "
            "A file that does not match was damaged on the way: copy it again, or take it "
            "from the other copy (cloud storage)."
        ),
        "",
        *_repair_steps(par2_name, redundancy),
        _heading("3. Extract with 7-Zip" if not par2_name else "4. Extract with 7-Zip"),
        _para(
            "Windows: install 7-Zip from https://www.7-zip.org, then right-click "
            f"{first} and choose 7-Zip > Extract to \"{set_name}\\\"."
        ),
        "",
        _para(
            "macOS: install 7-Zip for macOS from https://www.7-zip.org, or with Homebrew "
            "(brew install sevenzip); the Keka app works too. Then in Terminal:"
        ),
        "",
        "  cd /path/to/the/folder",
        f"  7zz x {first}",
        "",
        _para(
            "Linux: install 7-Zip (Debian and Ubuntu: sudo apt install 7zip; the command is 7zz. "
            "Older systems: p7zip-full, whose command is 7z). Then:"
        ),
        "",
        "  cd /path/to/the/folder",
        f"  7zz x {first}",
        "",
        _para(
            "Open only the first volume; 7-Zip finds the others in the same folder by itself. "
            "It checks every file's CRC while extracting and ends with \"Everything is Ok\"."
        ),
        "",
        _heading(f"{5 if par2_name else 4}. Check the restored files (optional)"),
        _para(
            "The manifest lists every file with its SHA-256"
            + (" (extract it with 7-Zip and the password first, like the archive)" if encrypted else "")
            + ". To check a file, compare its \"sha256\" entry in the manifest with what these print:"
        ),
        "",
        "  Linux:    sha256sum FILE",
        "  macOS:    shasum -a 256 FILE",
        "  Windows:  certutil -hashfile FILE SHA256",
        "",
        _para(
            "The discs use the standard ISO 9660, Joliet, Rock Ridge and UDF file systems and "
            "the archive is standard 7z (LZMA2 or stored, AES-256 when encrypted): nothing here "
            "needs icefloe to restore."
        ),
        "",
        _heading("Without the discs: everything from the cloud copy"),
        _para(
            "Every set is also in cold storage (an Amazon S3 bucket or Glacier vault, named in "
            "icefloe.toml as coldstore.bucket or coldstore.vault). On any computer with Python: "
            "pip install icefloe, set up the AWS keys (aws configure), put the archive password "
            "in the ICEFLOE_ARCHIVE_PASSWORD environment variable, then run"
        ),
        "",
        "  icefloe recover --bucket BUCKET-NAME --to restored",
        "  icefloe recover --vault VAULT-NAME --to restored    (a Glacier vault)",
        "",
        _para(
            "It rebuilds the list of everything that was backed up, shows what retrieving it "
            "costs and how long it takes (hours), and restores every set into the folder "
            "restored. Run the same command again later while the retrievals are running."
        ),
    ]
    return "\n".join(out) + "\n"


def _repair_steps(par2_name: str | None, redundancy: float) -> list[str]:
    """Step 3 of RESTORE.txt: repair with stock PAR2 tools, before 7-Zip needs the files."""
    if not par2_name:
        return []
    name = _ascii(par2_name)
    share = f" (at least {redundancy:.0%} of the data on the disc)" if redundancy > 0 else ""
    return [
        _heading("3. Repair damaged files (only when step 2 or 7-Zip finds damage)"),
        _para(
            f"Each disc carries recovery data{share} in its .par2 files. It rebuilds damaged "
            "or unreadable parts of any file on that disc, as long as the damage is smaller "
            "than the recovery data. Copy whatever can be read from the disc (a file the "
            "computer stops copying halfway: on Linux, GNU ddrescue copies the readable "
            "parts), with the disc's .par2 files, into the folder of step 1. Then, in that "
            "folder:"
        ),
        "",
        f"  Linux and macOS:  par2 repair {name}",
        "",
        _para(
            "Debian and Ubuntu install par2 with sudo apt install par2, macOS with Homebrew "
            "(brew install par2). Windows: install "
            "MultiPar (https://github.com/Yutaka-Sawada/MultiPar), open "
            f"{name} with it and choose Repair; QuickPar reads these files too. "
            f"par2 verify {name} only checks, and ends with \"All files are correct\" when "
            "nothing is damaged. Each disc's .par2 files repair the files on that disc; the "
            "manifest and SHA256SUMS.txt are the same on every disc, so a damaged copy can "
            "also be taken from another disc. After a repair, run step 2 again."
        ),
        "",
    ]


def _sum_line(sha256: str, name: str) -> str:
    # GNU coreutils' escaping, for names with a backslash or a newline.
    if "\\" in name or "\n" in name:
        return "\\" + sha256 + "  " + name.replace("\\", "\\\\").replace("\n", "\\n")
    return f"{sha256}  {name}"


def sha256sums_text(checksums: Sequence[tuple[str, str]]) -> str:
    """``sha256sum -c`` input for (name, sha256) pairs."""
    return "".join(_sum_line(sha, name) + "\n" for name, sha in checksums)
