"""Province spellings accepted in input files, normalised to ISO 3166-2:CN codes.

Accepted for every provincial-level division: the ISO code (``CN-GD``, also bare ``GD``), the
pre-2017 numeric ISO code (``CN-44``), the GB/T 2260 two-digit prefix (``44``) and six-digit
division codes starting with it (``440300``), the Chinese name with or without its suffix
(``广东``, ``广东省``, ``内蒙古自治区``, ``广西壮族自治区``), also in Traditional characters
(``廣東``, ``內蒙古自治區``), and pinyin / English names
(``Guangdong``, ``Nei Mongol``, ``Inner Mongolia``). Case, spaces, ``-``, ``_`` and ``.`` are
ignored. Anything else is ``UNKNOWN`` (kept and counted, never dropped).
"""

from __future__ import annotations

import re

UNKNOWN_REGION = "UNKNOWN"

# code, GB/T 2260 prefix, full Chinese name, short Chinese name, pinyin / English spellings
PROVINCES: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("BJ", "11", "北京市", "北京", ("Beijing", "Peking")),
    ("TJ", "12", "天津市", "天津", ("Tianjin",)),
    ("HE", "13", "河北省", "河北", ("Hebei",)),
    ("SX", "14", "山西省", "山西", ("Shanxi",)),
    ("NM", "15", "内蒙古自治区", "内蒙古", ("Nei Mongol", "Neimenggu", "Inner Mongolia", "内蒙")),
    ("LN", "21", "辽宁省", "辽宁", ("Liaoning",)),
    ("JL", "22", "吉林省", "吉林", ("Jilin",)),
    ("HL", "23", "黑龙江省", "黑龙江", ("Heilongjiang",)),
    ("SH", "31", "上海市", "上海", ("Shanghai",)),
    ("JS", "32", "江苏省", "江苏", ("Jiangsu",)),
    ("ZJ", "33", "浙江省", "浙江", ("Zhejiang",)),
    ("AH", "34", "安徽省", "安徽", ("Anhui",)),
    ("FJ", "35", "福建省", "福建", ("Fujian",)),
    ("JX", "36", "江西省", "江西", ("Jiangxi",)),
    ("SD", "37", "山东省", "山东", ("Shandong",)),
    ("HA", "41", "河南省", "河南", ("Henan",)),
    ("HB", "42", "湖北省", "湖北", ("Hubei",)),
    ("HN", "43", "湖南省", "湖南", ("Hunan",)),
    ("GD", "44", "广东省", "广东", ("Guangdong", "Canton")),
    ("GX", "45", "广西壮族自治区", "广西", ("Guangxi", "Guangxi Zhuang")),
    ("HI", "46", "海南省", "海南", ("Hainan",)),
    ("CQ", "50", "重庆市", "重庆", ("Chongqing",)),
    ("SC", "51", "四川省", "四川", ("Sichuan",)),
    ("GZ", "52", "贵州省", "贵州", ("Guizhou",)),
    ("YN", "53", "云南省", "云南", ("Yunnan",)),
    ("XZ", "54", "西藏自治区", "西藏", ("Xizang", "Tibet")),
    ("SN", "61", "陕西省", "陕西", ("Shaanxi",)),
    ("GS", "62", "甘肃省", "甘肃", ("Gansu",)),
    ("QH", "63", "青海省", "青海", ("Qinghai",)),
    ("NX", "64", "宁夏回族自治区", "宁夏", ("Ningxia", "Ningxia Hui")),
    ("XJ", "65", "新疆维吾尔自治区", "新疆", ("Xinjiang", "Xinjiang Uygur", "Xinjiang Uyghur")),
    ("TW", "71", "台湾省", "台湾", ("Taiwan", "臺灣")),
    ("HK", "81", "香港特别行政区", "香港", ("Hong Kong", "Xianggang")),
    ("MO", "82", "澳门特别行政区", "澳门", ("Macao", "Macau", "Aomen", "澳門")),
)

# The characters of the names above that Traditional Chinese (Big5 exports from Hong Kong,
# Macao and Taiwan shops) writes differently: 廣東, 黑龍江, 內蒙古自治區...
_TRADITIONAL = str.maketrans(
    {
        "东": "東", "广": "廣", "龙": "龍", "辽": "遼", "宁": "寧", "苏": "蘇", "陕": "陝",
        "肃": "肅", "庆": "慶", "贵": "貴", "云": "雲", "湾": "灣", "门": "門", "区": "區",
        "维": "維", "尔": "爾", "壮": "壯", "别": "別", "内": "內", "台": "臺",
    }
)  # fmt: skip

# Before 2017 ISO 3166-2:CN used numbers, with 91 / 92 for Hong Kong / Macao.
_OLD_ISO_NUMBERS = {"HK": "91", "MO": "92"}

_IGNORED = re.compile(r"[\s_\-.·]")


def alias_key(text: str) -> str:
    """The form both sides are compared in: lower case without spaces, ``-``, ``_``, ``.``.

    Must match ``ALIAS_KEY_SQL`` below, which computes the same key inside DuckDB.
    """
    return _IGNORED.sub("", text.lower())


# The same key as ``alias_key``, in DuckDB SQL, for a column or expression ``{}``.
ALIAS_KEY_SQL = "lower(regexp_replace({}, '[\\s_\\-.·]', '', 'g'))"


def region_aliases() -> dict[str, str]:
    """1. Every accepted spelling's key -> its ISO 3166-2:CN code (``CN-GD``)."""
    aliases: dict[str, str] = {}
    for code, prefix, full_name, short_name, spellings in PROVINCES:
        iso = f"CN-{code}"
        names = (iso, code, f"CN-{prefix}", prefix, full_name, short_name, *spellings)
        traditional = (full_name.translate(_TRADITIONAL), short_name.translate(_TRADITIONAL))
        # Taiwan's own spelling keeps 台 as often as 臺.
        for name in (*names, *traditional, *(t.replace("臺", "台") for t in traditional)):
            aliases[alias_key(name)] = iso
        if code in _OLD_ISO_NUMBERS:
            aliases[alias_key(f"CN-{_OLD_ISO_NUMBERS[code]}")] = iso
    return aliases


def six_digit_prefix_aliases() -> dict[str, str]:
    """GB/T 2260 two-digit prefix -> ISO code, for six-digit division codes (``440300``)."""
    return {prefix: f"CN-{code}" for code, prefix, *_ in PROVINCES}


def normalise_region(text: str | None) -> str | None:
    """The ISO code for one spelling; ``None`` for empty input, ``UNKNOWN`` if not recognised.

    The loader does the same in SQL (a join on the alias table); this is for tests and callers
    that hold a single value.
    """
    if text is None or not text.strip():
        return None
    key = alias_key(text.strip())
    found = region_aliases().get(key)
    if found:
        return found
    if len(key) == 6 and key.isdigit():
        return six_digit_prefix_aliases().get(key[:2], UNKNOWN_REGION)
    return UNKNOWN_REGION
