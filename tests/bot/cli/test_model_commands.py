"""The model commands of the `spren` CLI: book selection errors, train/eval on text files."""

import json

import click
import pytest
from click.testing import CliRunner

from bot.cli import model, training
from bot.cli.training import expand_codes
from bot.config import Config
from bot.store import Base, Book, BookText, Store

STORY = ("The little girl walked down the yellow road with her dog. The lion roared and the "
         "tin man laughed. They came to a green city where a wizard lived. ") * 40


def make_cli(cfg: Config) -> click.Group:
    @click.group()
    @click.pass_context
    def spren(ctx):
        ctx.obj = lambda: cfg

    training.register(spren)
    model.register(spren)
    return spren


@pytest.fixture
def cfg(tmp_path):
    c = Config()
    c.bot.data_dir = str(tmp_path / "data")
    (tmp_path / "data").mkdir()
    store = Store(c.database_url, salt="x")
    Base.metadata.create_all(store.engine)
    raw = tmp_path / "oz1.txt"  # the "original file" of oz1, Gutenberg markers and wraps
    marker = "*** {} OF THE PROJECT GUTENBERG EBOOK X ***\r\n"
    raw.write_text("Header\r\n" + marker.format("START") + STORY.replace(". ", ".\r\n")
                   + marker.format("END"))
    with store.session() as s:
        for i in (1, 2):
            book = Book(code=f"oz{i}", title=f"Book {i}", series_order=i,
                        source_path=str(raw) if i == 1 else "gone.txt",
                        source_sha256=str(i) * 64)
            s.add(book)
            s.flush()
            s.add(BookText(book_id=book.id, text=STORY))
    store.engine.dispose()
    return c


def test_expand_codes():
    assert expand_codes("oz1-oz3,wor") == ["oz1", "oz2", "oz3", "wor"]
    assert expand_codes("oz2-4") == ["oz2", "oz3", "oz4"]
    with pytest.raises(click.UsageError):
        expand_codes("oz5-oz2")


def test_unknown_book_code_is_a_usage_error(cfg):
    result = CliRunner().invoke(make_cli(cfg), ["train", "--books", "oz1-oz3", "--preset", "tiny"])
    assert result.exit_code == 2
    assert "unknown book code(s): oz3" in result.output and "oz1, oz2" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(make_cli(cfg), ["eval", "--book", "oz9", str(cfg.data_dir)])
    assert result.exit_code == 2 and "oz9" in result.output


def test_books_or_files_not_both(cfg, tmp_path):
    f = tmp_path / "a.txt"
    f.write_text(STORY)
    result = CliRunner().invoke(make_cli(cfg), ["train", "--books", "oz1", "--text-file", str(f)])
    assert result.exit_code == 2 and "either --books" in result.output


def test_train_on_books_then_eval(cfg, tmp_path):
    out = tmp_path / "model"
    args = ["train", "--books", "oz1", "--holdout-book", "oz2", "--preset", "tiny",
            "--vocab-size", "300", "--block-size", "32", "--batch-size", "2", "--max-steps", "2",
            "--eval-every", "2", "--eval-block", "64", "--out", str(out)]
    result = CliRunner().invoke(make_cli(cfg), args)
    assert result.exit_code == 0, result.output
    assert "finished: 2/2 steps" in result.output
    result = CliRunner().invoke(make_cli(cfg), ["eval", str(out), "--book", "oz2",
                                                "--max-chars", "500", "--block", "64"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    assert scores["chars"] == 500 and 0 < scores["bpc"] < 20 and scores["word_perplexity"] > 1


def test_generate_needs_a_prompt_and_a_model(cfg, tmp_path):
    result = CliRunner().invoke(make_cli(cfg), ["generate"])
    assert result.exit_code == 2 and "--prompt" in result.output
    result = CliRunner().invoke(make_cli(cfg), ["generate", "--prompt", "Hi",
                                                "--model", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no model at" in result.output


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"  \n\t ", "is empty"),
    (b"Dorothy caf\xe9 walked", "is not UTF-8 text (byte 11 is 0xe9)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "binary file"),
])
def test_generate_refuses_unusable_prompt_files_clearly(cfg, tmp_path, content, message):
    path = tmp_path / "prompt.txt"
    path.write_bytes(content)
    result = CliRunner().invoke(make_cli(cfg), ["generate", "--prompt-file", str(path),
                                                "--model", str(tmp_path / "none")])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_generate_refuses_an_empty_prompt_and_reads_utf8_with_a_bom(cfg, tmp_path):
    result = CliRunner().invoke(make_cli(cfg), ["generate", "--prompt", " "])
    assert result.exit_code == 2 and "the prompt is empty" in result.output
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffDorothy walked".encode())
    result = CliRunner().invoke(make_cli(cfg), ["generate", "--prompt-file", str(path),
                                                "--model", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no model at" in result.output  # read fine, then no model
    result = CliRunner().invoke(make_cli(cfg), ["generate", "--prompt", "Hi", "--out",
                                                str(tmp_path / "missing" / "out.txt")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_missing_database_says_ingest_first(tmp_path):
    c = Config()
    c.bot.data_dir = str(tmp_path / "empty")
    result = CliRunner().invoke(make_cli(c), ["eval", "--book", "oz1", str(tmp_path)])
    assert result.exit_code == 2 and "spren ingest" in result.output
    assert not (tmp_path / "empty" / "spren.db").exists()


def test_eval_raw_scores_the_original_file_too(cfg, tmp_path):
    out = tmp_path / "model"
    args = ["train", "--books", "oz1", "--holdout-book", "oz2", "--preset", "tiny",
            "--vocab-size", "300", "--block-size", "32", "--batch-size", "2", "--max-steps", "1",
            "--eval-every", "1", "--eval-block", "64", "--out", str(out)]
    assert CliRunner().invoke(make_cli(cfg), args).exit_code == 0
    result = CliRunner().invoke(make_cli(cfg), ["eval", str(out), "--book", "oz1", "--raw",
                                                "--max-chars", "600", "--block", "64",
                                                "--raw-block", "32", "--raw-stride", "16"])
    assert result.exit_code == 0, result.output
    cleaned, raw = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    assert (cleaned["method"], cleaned["block"]) == ("cleaned", 64)
    assert (raw["method"], raw["block"], raw["stride"]) == ("raw", 32, 16)
    assert cleaned["chars"] == raw["chars"] == 600
    assert raw["tokens"] > cleaned["tokens"]  # the raw text keeps its line breaks
    result = CliRunner().invoke(make_cli(cfg), ["eval", str(out), "--book", "oz2", "--raw"])
    assert result.exit_code == 2 and "cannot read gone.txt" in result.output


def test_raw_books_train_on_the_original_files_text(cfg, tmp_path):
    from bot.cli.training import _book_texts

    texts = _book_texts(cfg, ["oz1", "oz2"], ["oz1"])
    assert texts["oz2"] == STORY.strip() + "\n"
    assert texts["oz1"].startswith("The little girl") and "START OF" not in texts["oz1"]
    assert ".\n" in texts["oz1"] and "\r" not in texts["oz1"]  # wraps kept, line ends normal
    with pytest.raises(click.UsageError, match="not among the books"):
        _book_texts(cfg, ["oz2"], ["oz1"])
    with pytest.raises(click.UsageError, match="original file gone.txt is gone"):
        _book_texts(cfg, ["oz2"], ["oz2"])


def test_raw_too_trains_a_book_in_both_forms(cfg, tmp_path):
    from bot.cli.training import _select_texts

    val = tmp_path / "val.txt"
    val.write_text("Held out text for validation.\n")
    kw = {"books": "oz1-oz2", "holdout_book": None, "text_files": (), "val_files": (val,),
          "raw_books": "", "raw_too": "oz1", "holdout_frac": 0.05, "val_max_chars": 0}
    train, _val, _what = _select_texts(cfg, kw)
    assert len(train) == 3  # two books cleaned, then oz1 again as its file's text
    assert train[1] == STORY.strip() + "\n"
    assert train[2].startswith("The little girl") and "START OF" not in train[2]
    assert train[2] != train[0]  # the original keeps its wraps; the cleaned text does not
    with pytest.raises(click.UsageError, match="--raw-too oz3: not among the books"):
        _select_texts(cfg, dict(kw, raw_too="oz3"))


@pytest.mark.parametrize("option, value", [("--block", "0"), ("--stride", "0"),
                                           ("--max-chars", "-5"), ("--raw-block", "1"),
                                           ("--raw-stride", "-1")])
def test_eval_refuses_windows_and_lengths_that_mean_nothing(tmp_path, option, value):
    """Refused in one line before anything is read (a negative --max-chars used to cut the
    text from its end; --stride 0 silently meant the default)."""
    c = Config()
    c.bot.data_dir = str(tmp_path / "empty")
    result = CliRunner().invoke(make_cli(c), ["eval", "--book", "oz1", option, value,
                                              str(tmp_path)])
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output
    assert "Traceback" not in result.output and "spren ingest" not in result.output
