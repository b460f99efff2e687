"""Excel workbooks (.xlsx, .xlsm): the sheet becomes a UTF-8 CSV that ``reading.load_csv`` reads.

Shop owners hand over what their admin panel's export button or Excel gave them, often an
.xlsx, so a workbook is read, not refused:

1. openpyxl in read-only mode streams the rows (cached values of formulas, not the formulas).
   A workbook whose data is on more than one sheet is refused with the sheets' names: which
   one holds the orders is not guessed.
2. Row 1 is the header. Sheet row N is CSV line N: an empty row is written as an empty line
   (skipped by the CSV reader), so a quarantined row's line is its row in Excel.
3. Cells become the text an export would have written: dates and times as ISO 8601 (a time
   without zone is Asia/Shanghai, as in CSV), whole numbers without ``.0``, other numbers
   to the 15 significant digits Excel shows (a formula's 8.1000000000000014 is 8.1), TRUE/FALSE
   as true/false.
4. Excel keeps 15 significant digits: a number of 16 or more digits held as a double (an
   order id or a trade number typed as a number) has lost its last digits in the file
   already. It is written as it is held (``1.2345678901234568e+17``), never rounded into
   another id, and counted in the summary.

Legacy .xls, WPS .et and OpenDocument sheets are refused with "save it as CSV" (``reading``).
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.ingest.reading import UnreadableFile

# Integers up to this are exact in a double and within Excel's 15 significant digits.
EXACT_DIGITS_LIMIT = 10**15


@dataclass(frozen=True)
class Converted:
    """The CSV written for a workbook, and what a user should hear about it."""

    path: Path
    sheet: str
    long_numbers: int

    def notes(self) -> list[str]:
        notes = [f"sheet {self.sheet!r}"]
        if self.long_numbers:
            notes.append(
                f"{self.long_numbers} number{'s' if self.long_numbers > 1 else ''} of 16 or more "
                "digits, which Excel does not keep exactly (export ids as text)"
            )
        return notes


def cell_text(value, counter: list[int]) -> str:
    """The text of one cell as a CSV export would hold it (``counter[0]``: long numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, int):
        return str(value)  # the file holds its digits (a writer other than Excel wrote them)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return repr(value)
        if value.is_integer() and abs(value) < EXACT_DIGITS_LIMIT:
            return str(int(value))
        if abs(value) >= EXACT_DIGITS_LIMIT:
            counter[0] += 1
            return repr(value)
        # As Excel shows it (15 significant digits): a formula's 8.1000000000000014 is 8.1.
        return format(value, ".15g")
    return str(value)


def xlsx_to_csv(path: Path, workdir: Path) -> Converted:
    """Write the workbook's one sheet with data as ``workdir/<name>.csv`` (UTF-8)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnreadableFile(f"not a readable Excel workbook ({first})") from None
    try:
        with_data = [sheet for sheet in book.worksheets if _has_data(sheet)]
        if len(with_data) > 1:
            names = ", ".join(repr(sheet.title) for sheet in with_data)
            raise UnreadableFile(
                f"{len(with_data)} sheets hold data ({names}): save the one to load as its "
                "own workbook or CSV"
            )
        if not with_data:
            raise UnreadableFile("empty file: no header row")
        sheet = with_data[0]
        target = workdir / f"{path.name}.csv"
        counter = [0]
        width = 0  # the header's: a row is cut or padded to it, as a CSV export writes it
        with target.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            for row in sheet.iter_rows(values_only=True):
                cells = [cell_text(value, counter) for value in row]
                filled = len(cells)
                while filled and cells[filled - 1] == "":
                    filled -= 1
                if not filled:
                    out.write("\n")  # an empty row: its line stays, the reader skips it
                    continue
                width = width or filled
                cells = cells[: max(width, filled)]
                writer.writerow(cells + [""] * (width - len(cells)))
        return Converted(target, sheet.title, counter[0])
    finally:
        book.close()


def _has_data(sheet) -> bool:
    for row in sheet.iter_rows(values_only=True):
        if any(value is not None and value != "" for value in row):
            return True
    return False
