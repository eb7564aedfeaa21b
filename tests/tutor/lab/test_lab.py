"""The lab's measurements on a tiny random Llama with the packaged tokenizer."""

import json

import pytest
import torch

from tests.helpers.tiny_model import tiny_llama
from tutor.lab.chart import draw_chart
from tutor.lab.measure import choose_option, eval_ids, score_text
from tutor.lab.report import LabSetup
from tutor.lab.run import run_lab
from tutor.runtime.transformers import load_model
from tutor.settings import load_settings

pytestmark = pytest.mark.model  # a tiny random Llama, loaded by transformers

# Small enough to keep the file fast, large enough for several windows and decode steps.
QUICK = LabSetup(
    eval_tokens=300, window=128, stride=64, prompt_tokens=64, new_tokens=6, speed_runs=2
)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """Widths divisible by 32, as bitsandbytes 4-bit on CPU needs."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    model, tokenizer = tiny_llama()
    model.to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir), "none", tiny_model_dir)


@pytest.fixture(scope="module")
def tiny_settings(tiny_model_dir, tmp_path_factory):
    return load_settings(model=str(tiny_model_dir), data_dir=tmp_path_factory.mktemp("lab-data"))


@pytest.fixture(scope="module")
def report(tiny_settings):
    """bf16 and nf4, each in its own process: the KL reference crosses between them."""
    return run_lab(tiny_settings, ("none", "nf4"), progress=False, setup=QUICK, answer_questions=2)


def test_perplexity_is_finite_and_above_one(tiny):
    score = score_text(tiny, eval_ids(tiny.tokenizer, QUICK), setup=QUICK)
    assert 1 < score.perplexity < float("inf")
    assert score.top_k.log_probs.shape == (299, QUICK.top_k)  # every token but the first


def test_a_model_does_not_diverge_from_itself(tiny):
    ids = eval_ids(tiny.tokenizer, QUICK)
    reference = score_text(tiny, ids, setup=QUICK).top_k
    score = score_text(tiny, ids, reference, QUICK)
    assert score.kl_divergence == pytest.approx(0.0, abs=1e-6)
    assert score.top1_agreement == 1.0


def test_the_quiz_scorer_picks_one_of_the_options(tiny):
    options = ["int8", "quantization", "int4", "perplexity"]
    choice = choose_option(tiny, "Which is most central?", options)
    assert 0 <= choice < len(options)


def test_nf4_weights_are_smaller_than_bf16s(report):
    nf4 = report.result("nf4")
    assert nf4.footprint_mb < report.result("none").footprint_mb
    # nf4 was scored against the reference that the bf16 process wrote.
    assert nf4.kl_divergence >= 0 and 0 <= nf4.top1_agreement <= 1
    assert nf4.quiz_total > 0
    assert 0 <= nf4.answer_recall <= 1 and 0 <= nf4.draft_recall <= 1  # the tutor at nf4


def test_the_report_renders_a_table_a_chart_and_json(report, tmp_path):
    table = report.render_table()
    assert table.count("\n") == 3 and "| nf4 |" in table and "Perplexity" in table
    draw_chart(report, tmp_path / "lab.png")
    report.write_json(tmp_path / "lab.json")
    report.write_markdown(tmp_path / "lab.md")
    assert (tmp_path / "lab.png").read_bytes().startswith(b"\x89PNG")
    saved = json.loads((tmp_path / "lab.json").read_text())
    assert [r["precision"] for r in saved["results"]] == ["none", "nf4"]
    assert "answer_recall" in saved["results"][0]
    assert table in (tmp_path / "lab.md").read_text()


def test_the_cache_is_reused_unless_fresh(report, tiny_settings, monkeypatch):
    measured = []

    def fake_measure(settings, precision, **kwargs):
        measured.append(precision)
        return report.result(precision)

    monkeypatch.setattr("tutor.lab.run.measure_isolated", fake_measure)
    again = run_lab(tiny_settings, ("none", "nf4"), progress=False, setup=QUICK, answer_questions=2)
    assert measured == []
    assert again.results == report.results
    run_lab(
        tiny_settings, ("none", "nf4"), fresh=True, progress=False, setup=QUICK, answer_questions=2
    )
    assert measured == ["none", "nf4"]
