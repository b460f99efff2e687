"""Typing and checking a staged file against its entity's rules, set-based in DuckDB SQL.

``stage_sql`` turns the relation of raw values into ``staged``: one row per input row with the
typed values, ``_reason`` / ``_reason_column`` (NULL when the row is good: the first rule the
row breaks, in column order), ``_rows`` (how many input rows it stands for; 1 here),
``_from_adapter`` (the reason is a source system's fact, e.g. a deleted order, not a rule) and
``_normalised`` (how many of its values were accepted in a form real exports write: surrounding
spaces, ``180.0`` for a whole number, ``是``/``Y``/``1`` for a boolean, ``CST`` for China time).

Values that would poison a later build are quarantined here, never stored: NaN and infinity,
times before 2000 or more than two days after the ingest run's clock, dates outside
2000-2099, amounts and quantity x price beyond DECIMAL(18, 2).
"""

from __future__ import annotations

from pipelines.ingest.entities import Column, Entity
from pipelines.ingest.reading import quote_ident
from pipelines.ingest.region_codes import ALIAS_KEY_SQL, UNKNOWN_REGION
from pipelines.ingest.schema import OPTIONAL_COLUMNS

_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
_INTEGER_TYPES = _NUMERIC_TYPES[:8]


# Zone words that name China Standard Time (UTC+8), and the ones that name UTC. Any other
# word after a time is quarantined: CST is also US Central time, and no zone word is guessed.
CHINA_ZONE_WORDS = ("CST", "ASIA/SHANGHAI", "BEIJING", "PRC", "ASIA/CHONGQING")
UTC_ZONE_WORDS = ("Z", "UTC", "GMT")
EARLIEST_TIME = "2000-01-01"
LATEST_DATE = "2099-12-31"
FUTURE_TOLERANCE = "2 days"
TRUE_WORDS = ("true", "t", "1", "yes", "y", "是", "on")
FALSE_WORDS = ("false", "f", "0", "no", "n", "否", "off")

_ZONE_WORD = "[A-Za-z][A-Za-z_/]*"


def _needs_trim(raw: str) -> str:
    """SQL true when ``trim(raw)`` may differ from ``raw``: it starts or ends with an ASCII
    space, or holds a character outside ASCII (DuckDB's trim also removes Unicode spaces such
    as U+3000). trim() copies every string; this test copies none, so the common ASCII value
    skips the copy (8% of typing and checking a Parquet orders batch, docs/ingest.md)."""
    return f"({raw} LIKE ' %' OR {raw} LIKE '% ' OR strlen({raw}) <> length({raw}))"


def trim_sql(raw: str) -> str:
    """SQL for ``trim(raw)``: the same value, trimmed only where ``_needs_trim``."""
    return f"CASE WHEN {_needs_trim(raw)} THEN trim({raw}) ELSE {raw} END"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _shown(raw: str) -> str:
    """SQL showing a raw value in a reason, quoted and cut to 60 characters."""
    return f"'''' || left({raw}, 60) || ''''"


def _decimal_scale(source_type: str) -> int | None:
    """The scale of a DECIMAL(p, s) type, else None."""
    if source_type.startswith("DECIMAL(") and "," in source_type:
        return int(source_type.rstrip(")").split(",")[1])
    return None


def _is_text(source_type: str) -> bool:
    return source_type.startswith("VARCHAR") or source_type == "JSON"


def _is_numeric(source_type: str) -> bool:
    return source_type.startswith(_NUMERIC_TYPES)


def typed_sql(column: Column, raw: str, source_type: str, extended: bool = True) -> str:
    """SQL for the typed value of ``raw`` (NULL when empty or not of the column's kind).

    ``extended`` (the default) reads zone words and makes NaN / infinity NULL; without it
    (benchmarks only) values are cast as they are.
    """
    kind = column.kind
    if kind in ("text", "enum", "scope", "region"):
        text = (
            f"nullif({trim_sql(raw)}, '')" if _is_text(source_type) else f"CAST({raw} AS VARCHAR)"
        )
        if kind == "enum":
            return f"lower({text})"
        return text
    if kind == "timestamp":
        if source_type == "TIMESTAMP WITH TIME ZONE":
            return f"timezone('Asia/Shanghai', {raw})"
        if source_type.startswith("TIMESTAMP") or source_type == "DATE":
            return f"CAST({raw} AS TIMESTAMP)"
        # Text: an offset is honoured; without one the session zone (Asia/Shanghai) applies.
        text = _zone_as_offset(raw) if extended else raw
        return f"timezone('Asia/Shanghai', TRY_CAST({text} AS TIMESTAMPTZ))"
    if kind == "date":
        if source_type.startswith("TIMESTAMP") or source_type == "DATE":
            return f"CAST({raw} AS DATE)"
        value = f"TRY_CAST(nullif(trim({raw}), '') AS DATE)"
        return f"CASE WHEN isfinite({value}) THEN {value} END" if extended else value
    if kind == "int":
        if source_type.startswith(_INTEGER_TYPES):
            return f"TRY_CAST({raw} AS INTEGER)"
        if _is_numeric(source_type):
            return f"CASE WHEN {raw} = round({raw}) THEN TRY_CAST({raw} AS INTEGER) END"
        # Whole numbers written with a decimal zero (180.0, as pandas writes them) count too.
        return (
            f"CASE WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]{{1,10}}(\\.0*)?') "
            f"THEN TRY_CAST(split_part(trim({raw}), '.', 1) AS INTEGER) END"
        )
    if kind == "money":
        if source_type.startswith(_INTEGER_TYPES) or _decimal_scale(source_type) in (0, 1, 2):
            return f"TRY_CAST({raw} AS DECIMAL(18, 2))"
        if _is_numeric(source_type):
            # Floats carry binary noise (9.99 -> 9.9900000001): within 1e-6 of whole cents.
            return (
                f"CASE WHEN abs({raw} * 100 - round({raw} * 100)) < 1e-6 "
                f"THEN TRY_CAST(round({raw}, 2) AS DECIMAL(18, 2)) END"
            )
        return (
            f"CASE WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]{{1,16}}(\\.[0-9]{{0,2}})?') "
            f"THEN TRY_CAST(trim({raw}) AS DECIMAL(18, 2)) END"
        )
    if kind == "number":
        value = (
            f"CAST({raw} AS DOUBLE)"
            if _is_numeric(source_type)
            else f"TRY_CAST(nullif(trim({raw}), '') AS DOUBLE)"
        )
        return f"CASE WHEN isfinite({value}) THEN {value} END" if extended else value
    if kind == "bool":
        if source_type == "BOOLEAN":
            return raw
        text = f"lower(trim(CAST({raw} AS VARCHAR)))"
        return (
            f"CASE WHEN {text} IN ({', '.join(map(_lit, TRUE_WORDS))}) THEN true "
            f"WHEN {text} IN ({', '.join(map(_lit, FALSE_WORDS))}) THEN false END"
        )
    raise ValueError(f"unknown column kind {kind}")


def _zone_as_offset(raw: str) -> str:
    """SQL: a text time with its zone word (``CST``, ``UTC``...) replaced by the offset it
    means; a word that names no zone we accept makes the value NULL (see ``zone_word_sql``)."""
    text = f"trim({raw})"
    word = f"upper(regexp_extract({text}, '[0-9]\\s*({_ZONE_WORD})$', 1))"
    stamp = f"regexp_replace({text}, '\\s*{_ZONE_WORD}$', '')"
    china = ", ".join(map(_lit, CHINA_ZONE_WORDS))
    utc = ", ".join(map(_lit, UTC_ZONE_WORDS))
    return (
        f"CASE WHEN {_ends_with_digit(raw)} THEN {_offset_joined(trim_sql(raw), raw)} "
        f"WHEN NOT regexp_matches({text}, '[A-Za-z]$') THEN {_offset_joined(text)} "
        f"WHEN {word} = '' THEN {text} "
        f"WHEN {word} IN ({china}) THEN {stamp} || '+08:00' "
        f"WHEN {word} IN ({utc}) THEN {stamp} || '+00:00' END"
    )


def _ends_with_digit(raw: str) -> str:
    """SQL true when ``raw`` ends with a digit, as nearly every written time does: no zone
    word follows, so the regular expressions that look for one are skipped. With the
    trim guard in ``_present_sql`` that halves the CPU of typing a CSV file's times (4
    columns x 2 M rows, one thread: 6.9 -> 3.3 s). Trimming keeps a last digit last."""
    return f"({raw})[-1] BETWEEN '0' AND '9'"


# A numeric offset after a space (PHP's ``date('Y-m-d H:i:s O')``: ``10:00:00 +0800``).
_SPACED_OFFSET = "[0-9]\\s+[+-][0-9]{2}(:?[0-9]{2})?$"


def _space_before_sign(raw: str) -> str:
    """SQL true when a space precedes a ``+`` or ``-`` in ``raw``: the cheap test before the
    regular expressions for a spaced offset."""
    return f"({raw} LIKE '% +%' OR {raw} LIKE '% -%')"


def _offset_joined(text: str, raw: str | None = None) -> str:
    """SQL: ``... 10:00:00 +0800`` as ``... 10:00:00+0800``: DuckDB reads an offset only when
    it follows the time directly. Only values with a space before a sign (in ``raw``, the
    untrimmed value, when given: cheaper to test) pay the regexp."""
    return (
        f"CASE WHEN {_space_before_sign(raw or text)} "
        f"THEN regexp_replace({text}, '([0-9])\\s+([+-][0-9]{{2}}(:?[0-9]{{2}})?)$', '\\1\\2') "
        f"ELSE {text} END"
    )


def zone_word_sql(raw: str, source_type: str) -> str | None:
    """SQL for the zone word of a text time that is not one we accept (NULL otherwise)."""
    if not _is_text(source_type):
        return None
    text = f"trim({raw})"
    word = f"regexp_extract({text}, '[0-9]\\s*({_ZONE_WORD})$', 1)"
    accepted = ", ".join(map(_lit, CHINA_ZONE_WORDS + UTC_ZONE_WORDS))
    return (
        f"CASE WHEN {_ends_with_digit(raw)} THEN NULL "
        f"WHEN regexp_matches({text}, '[A-Za-z]$') AND {word} <> '' "
        f"AND upper({word}) NOT IN ({accepted}) THEN {word} END"
    )


def normalised_sql(column: Column, raw: str, source_type: str) -> str | None:
    """SQL true when a value was accepted in a form other than the contract's own."""
    if not _is_text(source_type):
        return None
    spaced = f"CASE WHEN {_needs_trim(raw)} THEN {raw} <> trim({raw}) ELSE false END"
    if column.kind == "int":
        return f"({spaced} OR regexp_matches({raw}, '\\.0*\\s*$'))"
    if column.kind == "bool":
        # An empty value takes the default: nothing was normalised.
        written = f"lower(trim({raw}))"
        return f"({spaced} OR ({written} <> '' AND {written} NOT IN ('true', 'false')))"
    if column.kind == "timestamp":
        china = "|".join(w.replace("/", "\\/") for w in CHINA_ZONE_WORDS)
        offset = f"regexp_matches(trim({raw}), '{_SPACED_OFFSET}')"
        return (
            f"({spaced} OR CASE WHEN NOT {_ends_with_digit(raw)} "
            f"THEN regexp_matches(upper({raw}), '[0-9]\\s*({china})\\s*$') OR {offset} "
            f"WHEN {_space_before_sign(raw)} THEN {offset} ELSE false END)"
        )
    return spaced


def _present_sql(raw: str, source_type: str) -> str:
    """SQL true when the raw value is not empty."""
    if _is_text(source_type):
        return f"nullif({trim_sql(raw)}, '') IS NOT NULL"
    return f"{raw} IS NOT NULL"


def _problem_sql(
    column: Column, clock: str, has_zone: bool, extended: bool = True
) -> list[tuple[str, str]]:
    """(condition, reason SQL) pairs for one column over the ``typed`` step's columns.

    ``x`` is the typed value and ``x__present`` whether the input was non-empty (kinds typed
    from text only; for text kinds a value is present when it is not NULL). Reasons carry the
    placeholder ``VALUE_PLACEHOLDER``: the quarantine step fills in the raw value, so rows are
    staged without a copy of their raw text. ``clock`` is the ingest run's time (Shanghai wall
    time, SQL literal); ``has_zone`` says ``x__zone`` holds a zone word we do not accept.
    """
    name = column.name
    value = "t." + quote_ident(name)
    present = (
        f"{value} IS NOT NULL"
        if column.kind in _TEXT_KINDS
        else "t." + quote_ident(name + "__present")
    )
    shown = _lit(VALUE_PLACEHOLDER)
    problems: list[tuple[str, str]] = []
    if column.required and column.default is None:
        problems.append((f"NOT {present}", _lit(f"{name} is missing")))
    kind_words = {
        "timestamp": "is not an ISO 8601 timestamp",
        "date": "is not a date (YYYY-MM-DD)",
        "int": "is not a whole number",
        "money": "is not an amount in CNY with at most 2 decimals",
        "number": "is not a finite number",
        "bool": "is not true or false",
    }
    if has_zone:
        zone = "t." + quote_ident(name + "__zone")
        problems.append(
            (
                f"{zone} IS NOT NULL",
                f"{_lit(name + ' ')} || {shown} || {_lit(' has the time zone word ')} || "
                f"{zone} || {_lit(': only CST, Asia/Shanghai and Beijing (UTC+8) or an offset')}",
            )
        )
    if column.kind in kind_words:
        problems.append(
            (
                f"{present} AND {value} IS NULL",
                f"{_lit(name + ' ')} || {shown} || {_lit(' ' + kind_words[column.kind])}",
            )
        )
    if column.kind == "timestamp" and extended:
        problems.append(
            (
                f"{value} < TIMESTAMP '{EARLIEST_TIME}'",
                f"{_lit(name + ' ')} || {shown} || {_lit(f' is before {EARLIEST_TIME}')}",
            )
        )
    if column.kind == "timestamp" and extended and column.future:
        problems.append(
            (
                f"{value} > TIMESTAMP '{LATEST_DATE}'",
                f"{_lit(name + ' ')} || {shown} || {_lit(f' is after {LATEST_DATE}')}",
            )
        )
    if column.kind == "timestamp" and extended and not column.future:
        problems.append(
            (
                f"{value} > {clock} + INTERVAL '{FUTURE_TOLERANCE}'",
                f"{_lit(name + ' ')} || {shown} || "
                f"{_lit(f' is more than {FUTURE_TOLERANCE} after this ingest run (')} || "
                f"strftime({clock}, '%Y-%m-%d %H:%M') || ')'",
            )
        )
    if column.kind == "date" and extended:
        problems.append(
            (
                f"{value} NOT BETWEEN DATE '{EARLIEST_TIME}' AND DATE '{LATEST_DATE}'",
                f"{_lit(name + ' ')} || {shown} || "
                f"{_lit(f' is outside {EARLIEST_TIME} to {LATEST_DATE}')}",
            )
        )
    if column.minimum is not None:
        problems.append(
            (
                f"{value} < {column.minimum:g}",
                f"{_lit(name + ' ')} || {shown} || {_lit(f' is below {column.minimum:g}')}",
            )
        )
    if column.kind == "enum":
        allowed = ", ".join(_lit(v) for v in column.values)
        problems.append(
            (
                f"{value} NOT IN ({allowed})",
                f"{_lit(name + ' ')} || {shown} || "
                f"{_lit(' is not one of ' + ', '.join(column.values))}",
            )
        )
    if column.kind == "scope":
        problems.append(
            (
                f"NOT regexp_full_match({value}, 'all|(category|brand|sku):.+')",
                f"{_lit(name + ' ')} || {shown} || "
                f"{_lit(' is not all, category:<c>, brand:<b> or sku:<id>')}",
            )
        )
    return problems


VALUE_PLACEHOLDER = "{value}"
_TEXT_KINDS = ("text", "enum", "scope", "region")


def region_map_name(column: str) -> str:
    return quote_ident(f"region_map_{column}")


def region_map_sql(entity: Entity, relation: str, source_types: dict[str, str]) -> list[str]:
    """SQL building, per region column, the map spelling -> ISO code of the file's distinct
    spellings (normalising a few dozen strings, not every row)."""
    statements = []
    for column in entity.columns:
        if column.kind != "region":
            continue
        source_type = source_types.get(column.name)
        raw = f"r.{quote_ident(column.name)}" if source_type else "NULL::VARCHAR"
        spelling = typed_sql(column, raw, source_type or "VARCHAR")
        # Six-digit GB/T 2260 division codes (440300) count by their province prefix.
        key = (
            "CASE WHEN regexp_full_match(spelling, '[0-9]{6}') THEN left(spelling, 2) "
            f"ELSE {ALIAS_KEY_SQL.format('spelling')} END"
        )
        statements.append(
            f"""CREATE OR REPLACE TEMP TABLE {region_map_name(column.name)} AS
                SELECT d.spelling, a.code
                FROM (SELECT DISTINCT {spelling} AS spelling FROM {relation} r) d
                LEFT JOIN region_alias a ON a.alias_key = {key}
                WHERE d.spelling IS NOT NULL"""
        )
    return statements


def staged_columns(entity: Entity, source_types: dict[str, str]) -> list[Column]:
    """The entity's columns ``staged`` holds: all but the optional columns (``schema.
    OPTIONAL_COLUMNS``) that the source does not have."""
    absent = {name for name, _ in OPTIONAL_COLUMNS.get(entity.name, ())} - set(source_types)
    return [c for c in entity.columns if c.name not in absent]


def stage_sql(
    entity: Entity,
    relation: str,
    source_types: dict[str, str],
    extra_problems: list[tuple[str, str, str]] = (),
    clock: str = "localtimestamp",
    extended: bool = True,
) -> str:
    """SQL creating temp table ``staged`` from ``relation`` (columns named as the contract's).

    1. ``typed``: each contract column is typed once from its raw value (a missing column is
       NULL); defaults fill empty values.
    2. ``checked``: region spellings become ISO codes through ``region_alias``; the first
       broken rule (adapter problems, then columns in order, then row rules) gives
       ``_reason`` and ``_reason_column`` (one CASE for both). Conditions only compare typed
       values, so each cast runs once per row.
    3. ``_normalised`` counts the row's values accepted in an exporter's form (text sources).

    ``extended=False`` leaves out the checks added for hostile exports (zone words, NaN and
    infinity, time ranges, amounts beyond DECIMAL(18, 2), the normalised count): only
    ``bench/ingest.py`` uses it, to show what they cost.
    """
    typed_parts: list[str] = ["r._line"]
    checked_parts: list[str] = ["t._line", "t._normalised"]
    problems: list[tuple[str, str, str]] = []
    region_joins: list[str] = []
    normalised: list[str] = []
    for index, (column, condition, reason) in enumerate(extra_problems):
        # Adapter problems read the relation's columns: evaluate them in the typed step.
        typed_parts.append(f"CASE WHEN {condition} THEN {reason} END AS _extra_{index}")
        problems.append((column, f"t._extra_{index} IS NOT NULL", f"t._extra_{index}"))

    def raw_of(name: str) -> tuple[str, str]:
        source_type = source_types.get(name)
        raw = f"r.{quote_ident(name)}" if source_type else "NULL::VARCHAR"
        return raw, source_type or "VARCHAR"

    # An optional column the source lacks stays out of ``staged`` (readers take it as NULL).
    columns = staged_columns(entity, source_types)
    for column in columns:
        raw, source_type = raw_of(column.name)
        typed = typed_sql(column, raw, source_type, extended)
        present = _present_sql(raw, source_type)
        if column.default is not None:
            default = column.default
            if any(c.name == default for c in entity.columns):
                # A default naming another column (updated_at <- created_at) uses its value.
                other_raw, other_type = raw_of(default)
                default = typed_sql(entity.column(default), other_raw, other_type, extended)
            typed = f"coalesce({typed}, CASE WHEN NOT ({present}) THEN {default} END)"
        name = quote_ident(column.name)
        typed_parts.append(f"{typed} AS {name}")
        if column.kind not in _TEXT_KINDS:
            typed_parts.append(f"{present} AS {quote_ident(column.name + '__present')}")
        zone = zone_word_sql(raw, source_type) if column.kind == "timestamp" and extended else None
        if zone:
            typed_parts.append(f"{zone} AS {quote_ident(column.name + '__zone')}")
        flag = normalised_sql(column, raw, source_type) if extended else None
        if column.name in source_types and flag:
            normalised.append(f"coalesce({flag}, false)::INTEGER")
        if column.kind == "region":
            alias = f"ra_{column.name}"
            region_joins.append(
                f"LEFT JOIN {region_map_name(column.name)} {alias} ON {alias}.spelling = t.{name}"
            )
            # Empty -> NULL (every region / not given); unrecognised -> UNKNOWN.
            checked_parts.append(
                f"CASE WHEN t.{name} IS NULL THEN NULL "
                f"ELSE coalesce({alias}.code, {_lit(UNKNOWN_REGION)}) END AS {name}"
            )
            checked_parts.append(f"t.{name} AS {quote_ident(column.name + '__raw')}")
        else:
            checked_parts.append(f"t.{name}")
        for condition, reason in _problem_sql(column, clock, zone is not None, extended):
            problems.append((column.name, condition, reason))

    typed_parts.append(f"({' + '.join(normalised) or '0'})::INTEGER AS _normalised")
    adapter_flags = [f"t._extra_{i} IS NOT NULL" for i in range(len(extra_problems))]
    checked_parts.append(f"({' OR '.join(adapter_flags) or 'false'}) AS _from_adapter")
    # One CASE gives the reason and its column together: a second CASE for the column would
    # test every condition again on every good row.
    problem_cases = " ".join(
        f"WHEN {cond} THEN {{'reason': {reason}, 'column': {_lit(col)}}}"
        for col, cond, reason in problems
    )
    row_rules = entity.row_rules + (entity.poison_rules if extended else ())
    # A rule on an optional column the source lacks cannot fire (the column is NULL).
    kept = {c.name for c in columns}
    row_rules = tuple(rule for rule in row_rules if rule[0] in kept)
    row_rule_cases = " ".join(
        f"WHEN {rule} THEN {{'reason': {_lit(reason)}, 'column': {_lit(col)}}}"
        for col, rule, reason in row_rules
    )
    no_problem = 'NULL::STRUCT(reason VARCHAR, "column" VARCHAR)'
    problem_cases = problem_cases or f"WHEN false THEN {no_problem}"
    row_rule_cases = row_rule_cases or f"WHEN false THEN {no_problem}"
    typed_columns = ", ".join(quote_ident(c.name) for c in columns)
    region_raw_columns = "".join(
        f", {quote_ident(c.name + '__raw')}" for c in columns if c.kind == "region"
    )
    return f"""
        CREATE OR REPLACE TEMP TABLE staged AS
        WITH typed AS (
            SELECT {", ".join(typed_parts)} FROM {relation} r
        ), checked AS (
            SELECT {", ".join(checked_parts)},
                   CASE {problem_cases} ELSE {no_problem} END AS _problem
            FROM typed t {" ".join(region_joins)}
        ), found AS (
            SELECT *, coalesce(_problem, CASE {row_rule_cases} ELSE {no_problem} END) AS _found
            FROM checked
        )
        SELECT _line, {typed_columns}{region_raw_columns},
               struct_extract(_found, 'reason') AS _reason,
               struct_extract(_found, 'column') AS _reason_column,
               1::BIGINT AS _rows, _normalised, _from_adapter
        FROM found
    """
