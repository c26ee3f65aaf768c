"""What the model is sent: the system prompt always, then the newest turns that fit in the budget."""

from webapp.chat.providers import ChatTurn
from webapp.chat.service import title_from, trim_context


def turns(*contents: str) -> list[ChatTurn]:
    return [ChatTurn("user" if index % 2 == 0 else "assistant", text) for index, text in enumerate(contents)]


def test_everything_fits_so_everything_is_sent_after_the_system_prompt():
    history = turns("hello", "hi", "how are you")
    assert trim_context("Be brief.", history, 1000) == [ChatTurn("system", "Be brief."), *history]


def test_the_oldest_turns_are_dropped_first():
    history = turns("a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40)
    kept = trim_context(None, history, 130)
    assert [turn.content[0] for turn in kept] == ["c", "d", "e"]


def test_the_system_prompt_counts_against_the_budget_and_is_never_dropped():
    history = turns("a" * 40, "b" * 40, "c" * 40)
    kept = trim_context("s" * 60, history, 130)
    assert kept[0] == ChatTurn("system", "s" * 60)
    assert [turn.content[0] for turn in kept[1:]] == ["c"]


def test_the_newest_turn_is_sent_even_when_it_alone_is_over_budget():
    kept = trim_context("sys", turns("old", "reply", "x" * 500), 100)
    assert kept == [ChatTurn("system", "sys"), ChatTurn("user", "x" * 500)]


def test_kept_history_starts_with_a_user_turn():
    history = turns("a" * 40, "b" * 40, "c" * 40)  # user, assistant, user
    kept = trim_context(None, history, 85)  # "b" and "c" would fit, but "b" is the model's
    assert kept == [ChatTurn("user", "c" * 40)]


def test_titles_come_from_the_first_line_of_words_cut_at_a_word():
    assert title_from("  What is\n a monad?  ") == "What is a monad?"
    long = title_from("word " * 40)
    assert long.endswith("…") and len(long) <= 80 and not long.endswith(" …")
