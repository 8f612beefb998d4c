"""`robospatial bench soak` on a short run: the simulated graph streams frames at 30 Hz, every command and
every command of a burst is answered, the burst in order, and the printed table carries each figure.
(The timing targets are the benchmark's to report, not this test's to assert.)"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest
from ros_helpers import fresh_domain_id

from robospatial_ros.bench.soak import SoakConfig, main, report, soak
from robospatial_ros.core.errors import ConfigError


def test_a_short_soak_answers_everything_and_the_burst_in_order(large_data_dds):
    cfg = SoakConfig(minutes=0.25, warmup_s=5.0, burst=20, domain_id=fresh_domain_id())
    result = soak(cfg)
    assert result.sent == 8 + 20  # at 0, 2, ..., 14 s, then the burst
    assert len(result.answers) == result.sent and result.succeeded == result.sent
    assert [i for i in result.order if i in result.burst_ids] == result.burst_ids == [f"cmd-{k}" for k in range(9, 29)]
    assert result.burst_s > 0 and len(result.objects) > 15  # frames streamed throughout
    lines = report(cfg, result)
    assert any(line.startswith("answers / commands") and "28/28" in line for line in lines)
    assert any(line.startswith("burst") and "20/20" in line and "in order" in line for line in lines)


@pytest.mark.parametrize("field, value", [("minutes", 0.0), ("burst", -1), ("warmup_s", 120.0)])
def test_bad_settings_are_config_errors(field, value):
    with pytest.raises(ConfigError, match=field):
        SoakConfig(**{"minutes": 1.0, field: value})


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--minutes", "1", "--burst", "-5"])
    assert exc.value.code == 2 and "burst must be >= 0" in capsys.readouterr().err
