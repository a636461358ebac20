from datetime import date
from itertools import pairwise

import pytest

from services.registry import reference as ref

TODAY = date.today()
BEFORE_SPLIT = date(2020, 1, 1)


def test_38_provinces_today_and_34_before_the_papua_split() -> None:
    assert len(ref.provinces_on(TODAY)) == 38
    assert len(ref.provinces_on(BEFORE_SPLIT)) == 34


def test_province_codes_are_the_kemendagri_set() -> None:
    spans = [(11, 19), (21, 21), (31, 36), (51, 53), (61, 65), (71, 76), (81, 82), (91, 96)]
    expected = [str(n) for low, high in spans for n in range(low, high + 1)]
    assert sorted(ref.provinces()) == expected


@pytest.mark.parametrize(("code", "effective"), [("93", "2022-07-25"), ("96", "2022-12-08")])
def test_new_papua_provinces_start_on_their_effective_date(code: str, effective: str) -> None:
    start = date.fromisoformat(effective)
    assert ref.province(code, on=start) is not None
    assert ref.province(code, on=date.fromordinal(start.toordinal() - 1)) is None


def test_every_regency_belongs_to_its_province_and_kind_matches_digits() -> None:
    for code, records in ref.regencies().items():
        assert len(code) == 4 and code.isdigit()
        for r in records:
            assert r.code[:2] == r.province_code
            assert r.province_code in ref.provinces()
            suffix = int(code[2:])
            assert 1 <= suffix <= 69 or 71 <= suffix <= 99
            assert r.kind == ("kabupaten" if suffix <= 69 else "kota")
            assert r.name.startswith("Kabupaten " if r.kind == "kabupaten" else "Kota ")


def test_regency_periods_lie_within_their_province_and_do_not_overlap() -> None:
    for records in ref.regencies().values():
        for earlier, later in pairwise(records):
            assert earlier.valid_to is not None and later.valid_from is not None
            assert earlier.valid_to < later.valid_from
        for r in records:
            prov = ref.provinces()[r.province_code]
            if prov.valid_from is not None:
                assert r.valid_from is not None and r.valid_from >= prov.valid_from


def test_seed_locations() -> None:
    jombang = ref.regency("3517")
    assert jombang is not None and jombang.province_code == "35"
    assert jombang.name == "Kabupaten Jombang" and jombang.kind == "kabupaten"
    assert ref.province("35").name == "Jawa Timur"  # type: ignore[union-attr]
    bangli = ref.regency("5106")
    assert bangli is not None and bangli.province_code == "51" and bangli.name == "Kabupaten Bangli"
    assert ref.regency("3578").kind == "kota"  # type: ignore[union-attr]


def test_dotted_kemendagri_notation_is_accepted() -> None:
    assert ref.regency("35.17") == ref.regency("3517")


def test_merauke_moves_from_papua_to_papua_selatan() -> None:
    new = ref.regency("9301", on=date(2023, 1, 1))
    assert new is not None and new.name == "Kabupaten Merauke" and new.province_code == "93"
    old = ref.regency("9101", on=BEFORE_SPLIT)
    assert old is not None and old.name == "Kabupaten Merauke" and old.province_code == "91"
    assert ref.regency("9101", on=date(2023, 1, 1)) is None
    assert ref.regency("9301", on=BEFORE_SPLIT) is None
    assert ref.regency("9101") is None  # default date is today
    # Every period of a code stays available for historical records.
    (retired,) = ref.regencies()["9101"]
    assert retired.valid_to == date(2022, 7, 24)


def test_sorong_moves_to_papua_barat_daya_in_december_2022() -> None:
    assert ref.regency("9271", on=date(2022, 12, 7)) is not None
    assert ref.regency("9271", on=date(2022, 12, 8)) is None
    kota_sorong = ref.regency("9671", on=date(2022, 12, 8))
    assert kota_sorong is not None and kota_sorong.kind == "kota"


def test_regency_counts() -> None:
    today = ref.regencies_on(TODAY)
    assert 500 <= len(today) <= 520
    assert len({r.code for r in today}) == len(today)
    # The split moved regencies but created none.
    assert len(ref.regencies_on(BEFORE_SPLIT)) == len(today)


def test_kbli_codes_are_five_digit_manufacturing() -> None:
    codes = ref.kbli_manufacturing()
    assert len(codes) >= 400
    for code, item in codes.items():
        assert code == item.code and len(code) == 5 and code.isdigit()
        assert 10 <= item.division <= 33
        assert item.title


def test_kbli_lookup() -> None:
    assert ref.kbli("10110") is not None
    steel = ref.kbli("24101")
    assert steel is not None and "Besi dan Baja" in steel.title
    # Primary aluminium is part of non-ferrous base metals.
    assert ref.kbli("24202") is not None
    assert ref.kbli("47111") is None  # retail trade, category G
