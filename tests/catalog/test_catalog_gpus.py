"""GPU name canonicalisation and the spec table."""

from __future__ import annotations

import pytest

from skyctl.catalog import canonical_gpu, gpu_family, gpu_spec, gpu_specs
from skyctl.errors import UserError

REQUIRED = ["T4", "L4", "A10G", "L40S", "A100-40GB", "A100-80GB", "H100", "H200"]


@pytest.mark.parametrize("spelling", ["a100-80g", "A100_80GB", "a100 80gb", "A100-80GB", "nvidia-a100-80gb",
                                      "A100-SXM4-80GB"])
def test_a100_80gb_spellings(spelling: str) -> None:
    assert canonical_gpu(spelling) == "A100-80GB"


@pytest.mark.parametrize(("spelling", "name"), [("t4", "T4"), ("Tesla-T4", "T4"), ("l40s", "L40S"),
                                                ("h100-sxm", "H100"), ("H100 80GB", "H100"), ("h200", "H200"),
                                                ("a10g", "A10G"), ("a10", "A10"), ("A100-40G", "A100-40GB"),
                                                ("h100_nvl", "H100-NVL")])
def test_aliases(spelling: str, name: str) -> None:
    assert canonical_gpu(spelling) == name


def test_family_name_is_ambiguous_for_canonical_but_expands_for_family() -> None:
    with pytest.raises(UserError) as e:
        canonical_gpu("A100")
    assert "A100-40GB" in e.value.message and "A100-80GB" in e.value.message
    assert gpu_family("a100") == ("A100-40GB", "A100-80GB")
    assert gpu_family("H100") == ("H100",)  # an exact name wins over the H100 / H100-NVL family


def test_unknown_gpu_has_did_you_mean() -> None:
    with pytest.raises(UserError) as e:
        canonical_gpu("H10")
    assert e.value.field == "gpu"
    assert "did you mean 'H100'" in e.value.message


def test_required_specs_present_and_dense() -> None:
    specs = gpu_specs()
    for name in REQUIRED:
        s = specs[name]
        assert s.memory_gb > 0 and s.mem_bw_gbps > 0 and s.fp16_tflops > 0 and s.source
    # dense (not sparse) figures: H100 SXM is 989.4, not the 1979 marketing number
    assert gpu_spec("h100").bf16_tflops == pytest.approx(989.4)
    assert gpu_spec("A100-80GB").fp16_tflops == 312
    assert gpu_spec("L4").fp16_tflops == 121
    assert gpu_spec("H200").memory_gb == 141 and gpu_spec("H200").mem_bw_gbps == 4800


def test_gpus_without_bf16_record_zero() -> None:
    assert gpu_spec("T4").bf16_tflops == 0 and gpu_spec("T4").fp16_tflops == 65
    assert gpu_spec("V100").bf16_tflops == 0


def test_bandwidth_and_memory_order_is_sane() -> None:
    s = gpu_specs()
    bw = {name: spec.mem_bw_gbps for name, spec in s.items()}
    assert bw["H200"] > bw["H100"] > bw["A100-80GB"] > bw["A100-40GB"]
    assert s["L4"].mem_bw_gbps < s["A10G"].mem_bw_gbps < s["L40S"].mem_bw_gbps
    for spec in s.values():
        assert spec.bf16_tflops in (0, spec.fp16_tflops)  # every GPU here has equal dense bf16 and fp16 rates
