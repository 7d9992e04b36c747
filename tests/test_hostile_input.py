"""Bad or hostile input gets one clear line and exit 2, and nothing is written or lost."""

from __future__ import annotations

import pytest

from anchor.errors import InputError
from anchor.memory import check_name


@pytest.mark.parametrize("name", ["healthy\n", "healthy\r\n", "a" * 65, "", "-x", "a b"])
def test_anchor_names_must_match_whole(name):
    with pytest.raises(InputError):
        check_name(name)
