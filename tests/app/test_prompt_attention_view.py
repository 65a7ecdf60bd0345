"""The language panel's attention view (app/training/kind_views/attention_view.py): where the last attention node
looked over the prompt and the written text, from the worker's generate answer. The last test trains a tiny text
transformer and asks the real worker, and is marked slow."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from test_kind_views import TINY_LM, recorded, train_text_model

from app.training.kind_views.attention_view import NO_ATTENTION, PLACEHOLDER, visible
from app.training.kind_views.language import LanguagePanel

# two heads over 5 tokens (the prompt's last 4 of 7, then 1 written): row t is where token t looked, causally
HEADS = [[[1.0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0], [0.2, 0.3, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4, 0],
          [0.2, 0.2, 0.2, 0.2, 0.2]],
         [[1.0, 0, 0, 0, 0], [0.9, 0.1, 0, 0, 0], [0.6, 0.2, 0.2, 0, 0], [0.7, 0.1, 0.1, 0.1, 0],
          [0.0, 0.0, 0.0, 0.0, 1.0]]]
ATTENTION = {"node": "block2", "tokens": ["a", "b", " ", "\n", "x"], "prompt": 4, "skipped": 3, "cap": 5,
             "context": 5, "weights": HEADS}


def answer(attention) -> dict:
    return {"type": "generated", "cmd": "generate", "prompt": "abca b\n", "text": "x",
            "weights": {"tag": "best", "epoch": 1, "step": 9}, "attention": attention}


@pytest.fixture
def panel(qtbot, tmp_path):
    panel = LanguagePanel()
    qtbot.addWidget(panel)
    panel.resize(520, 640)
    panel.show()
    qtbot.waitExposed(panel)
    record = recorded("language_model", tmp_path)
    record.add({"type": "checkpoint", "tag": "best", "path": str(tmp_path / "best.safetensors"), "epoch": 1,
                "step": 9})
    record.add({"type": "status", "state": "finished", "reason": None, "message": "done"})
    panel.show_record(record)
    return panel


def click_chip(qtbot, chips, i: int) -> None:
    qtbot.mouseClick(chips, Qt.MouseButton.LeftButton, pos=chips.chip_rects()[i].center())


def test_the_answer_shows_the_prompts_tokens_shaded_by_where_its_last_token_looked(qtbot, panel):
    view = panel.attention
    assert PLACEHOLDER in view.heading.text() and not view.scroll.isVisible()
    panel.reply(answer(ATTENTION))
    qtbot.waitUntil(lambda: view.chips.isVisible() and view.chips.width() > 0)
    chips = view.chips
    assert chips.labels == ["a", "b", "␣", "↵", "x"]  # whitespace drawn, one chip per token
    assert chips.query == 3 and "‘↵’</b> (the prompt's last token) looked, when it chose ‘x’" in view.heading.text()
    assert "block2" in view.heading.text()
    assert chips.weights == pytest.approx([0.4, 0.15, 0.2, 0.25, 0.0])  # the mean of the two heads' row 3
    assert "last 4 of 7 tokens (the model reads 5 at a time)" in view.note.text() and "first 1 written" in \
        view.note.text()
    assert "15.0% of ↵'s attention" in chips.tip(1)
    view.heads.setCurrentIndex(2)  # head 2 alone
    assert chips.weights == HEADS[1][3]
    qtbot.keyClick(chips, Qt.Key.Key_Right)  # the written token: where it looked
    assert chips.query == 4 and "(written token 1)" in view.heading.text() and chips.weights == HEADS[1][4]
    view.heads.setCurrentIndex(0)
    click_chip(qtbot, chips, 1)
    assert chips.query == 1 and chips.weights == pytest.approx([0.7, 0.3, 0, 0, 0])  # nothing on later tokens
    assert view.heads.count() == 3 and view.heads.itemText(0) == "mean of 2 heads"
    panel.reply(answer({**ATTENTION, "weights": HEADS[1:]}))  # one head: nothing to choose
    assert view.heads.isHidden() and chips.query == 3 and chips.weights == HEADS[1][3]


def test_generating_again_clears_it_and_a_graph_without_attention_says_so(qtbot, panel):
    view = panel.attention
    panel.reply(answer(ATTENTION))
    with qtbot.waitSignal(panel.request):
        qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
    assert PLACEHOLDER in view.heading.text() and view.data is None  # no stale view beside "Writing…"
    panel.reply(answer(None))  # an RNN language model
    assert NO_ATTENTION in view.heading.text() and not view.scroll.isVisible()
    assert "no attention node in this graph" in view.heading.text().lower()
    long = {**ATTENTION, "skipped": 100, "cap": 5, "context": 256}  # the view's own limit, not the model's
    panel.reply(answer(long))
    assert "last 4 of 104 tokens (the view shows 5)" in view.note.text()


TINY_TRANSFORMER = {  # TINY_LM with learned positions and one causal TransformerBlock before its Linear
    **TINY_LM,
    "nodes": TINY_LM["nodes"] + [
        {"id": "pos1", "type": "PositionalEncoding", "params": {"kind": "learned", "max_len": 8},
         "position": [300, 100]},
        {"id": "block1", "type": "TransformerBlock", "params": {"num_heads": 2, "causal": True, "dropout": 0.0},
         "position": [300, 200]}],
    "edges": [e for e in TINY_LM["edges"] if e != {"from": "emb1.out", "to": "fc1.in"}] + [
        {"from": "emb1.out", "to": "pos1.in"}, {"from": "pos1.out", "to": "block1.in"},
        {"from": "block1.out", "to": "fc1.in"}],
}


@pytest.mark.slow
def test_generate_with_a_trained_transformer_shows_where_its_last_block_looked(qtbot, window, tmp_path):
    training = train_text_model(qtbot, window, tmp_path, "Tiny transformer", TINY_TRANSFORMER)
    live = training.live
    live.redraw()
    panel = live.kind_panel
    assert isinstance(panel, LanguagePanel)
    panel.prompt.setText("The ")
    panel.tokens.setValue(10)
    qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.output.toPlainText() not in ("", "Writing…"), timeout=60_000)
    text = panel.output.toPlainText()
    view, chips = panel.attention, panel.attention.chips
    assert text.startswith("The ") and view.data is not None, text
    assert chips.labels == [visible(ch) for ch in text[:8]]  # the prompt's 4, then the first 4 written: 8 read
    assert "‘␣’</b> (the prompt's last token) looked, when it chose" in view.heading.text()
    assert "block1" in view.heading.text() and view.heads.itemText(0) == "mean of 2 heads"
    assert sum(chips.weights) == pytest.approx(1.0, abs=1e-3) and chips.weights[4:] == [0.0] * 4  # causal
    assert all(w > 0 for w in chips.weights[:4])
    qtbot.waitUntil(lambda: chips.width() > 0)
    click_chip(qtbot, chips, 6)  # a written token: where it looked when it chose the next one
    assert chips.query == 6 and "(written token 3)" in view.heading.text()
    assert sum(chips.weights) == pytest.approx(1.0, abs=1e-3) and chips.weights[7] == 0.0
    view.heads.setCurrentIndex(1)
    assert chips.weights == view.data["weights"][0][6]
