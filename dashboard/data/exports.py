"""Downloads: a frame as CSV (UTF-8 with BOM, for Excel on a Chinese Windows) or several as
one formatted XLSX workbook."""

from __future__ import annotations

import io
from decimal import Decimal

import pandas as pd

XLSX_MONEY = '"¥"#,##0.00'
XLSX_INTEGER = "#,##0"
XLSX_DECIMAL = "#,##0.00"


def to_xlsx(frames: dict[str, pd.DataFrame], money: tuple[str, ...] = ()) -> bytes:
    """One workbook with a sheet per frame (sheet names cut to Excel's 31 characters).

    Numbers stay numbers (Excel can add them up) with formats: the ``money`` columns as
    ``¥1,234.50``, whole numbers with thousands separators, other decimals to two places.
    Each column is as wide as its longest cell (a Chinese character counts twice), header
    row frozen.
    """
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for sheet, frame in frames.items():
            name = str(sheet)[:31] or "sheet"
            frame.to_excel(writer, sheet_name=name, index=False)
            _format_sheet(writer.sheets[name], frame, money)
    return buffer.getvalue()


def _format_sheet(sheet, frame: pd.DataFrame, money: tuple[str, ...]) -> None:
    from openpyxl.utils import get_column_letter

    sheet.freeze_panes = "A2"
    for position, column in enumerate(frame.columns, start=1):
        series = frame[column]
        if str(column) in money:
            number_format = XLSX_MONEY
        elif pd.api.types.is_bool_dtype(series):
            number_format = None
        elif pd.api.types.is_integer_dtype(series):
            number_format = XLSX_INTEGER
        elif pd.api.types.is_numeric_dtype(series):
            number_format = XLSX_DECIMAL
        else:
            number_format = None
        letter = get_column_letter(position)
        widest = _display_width(str(column))
        for (cell,) in sheet.iter_rows(min_row=2, min_col=position, max_col=position):
            if number_format and isinstance(cell.value, int | float | Decimal):
                cell.number_format = number_format
            shown = (
                f"¥{float(cell.value):,.2f}"
                if number_format == XLSX_MONEY and isinstance(cell.value, int | float | Decimal)
                else "" if cell.value is None else str(cell.value)
            )  # fmt: skip
            widest = max(widest, _display_width(shown))
        sheet.column_dimensions[letter].width = min(60, widest + 2)


def _display_width(text: str) -> int:
    return sum(2 if ord(character) > 0x2E7F else 1 for character in text)


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV with a UTF-8 BOM so Excel on a Chinese Windows shows the names correctly."""
    return frame.to_csv(index=False).encode("utf-8-sig")
