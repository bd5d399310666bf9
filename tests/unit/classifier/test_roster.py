"""The per-school roster matcher and the other-pupil flag built on it."""
from __future__ import annotations

from services.classifier.classify import classify
from services.classifier.roster import Roster, build_roster

ROSTER = ["Ruby Wright", "Summer Jones", "Will Thornton", "Ben Skinner", "Kemi Adeyinka", "Niamh O'Brien",
          "Jayden Clarke-Reid", "Zoë Marsh", "Grace Green", "Hope Adebayo"]
R = Roster(ROSTER)


def named(text: str) -> list[str]:
    """The roster names (candidates) hit in `text`."""
    return ["/".join(R.names[p] for p in hit.pupils) for hit in R.find_in(text)]


def other(text: str, recipient: str = "Ben Skinner", subject: str = "") -> bool | None:
    return classify(subject, text, recipient_pupil=recipient, roster=ROSTER).other_pupil_named


def test_case_and_possessive_forms() -> None:
    assert named("RUBY's coat is in the office") == ["Ruby Wright"]
    assert named("Ruby’s reading book") == ["Ruby Wright"]
    assert named("ruby wright was late") == ["Ruby Wright"]
    assert named("Niamh O’Brien’s bag") == ["Niamh O'Brien"]
    assert named("Jayden Clarke-Reid and Zoe Marsh") == ["Jayden Clarke-Reid", "Zoë Marsh"]


def test_full_names_first_names_and_initials() -> None:
    assert named("Summer Jones came second") == ["Summer Jones"]
    assert named("Well done Ben!") == ["Ben Skinner"]
    assert named("Lottie and Ben S. were reading buddies") == ["Ben Skinner"]


def test_first_name_followed_by_another_surname_is_someone_else() -> None:
    assert named("Grace Evans came to help") == []          # a different Grace
    assert named("Grace Green came to help") == ["Grace Green"]


def test_ordinary_words_are_not_names() -> None:
    assert named("We hope you had a good summer holidays") == []
    assert named("Summer term clubs start on Monday") == []
    assert named("Will you be able to come?") == []
    assert named("The trip is on 14 May") == []
    assert named("Summer was brilliant in the play") == ["Summer Jones"]
    assert named("Hope you are well. Grace was kind today.") == ["Grace Green"]


def test_class_and_place_names_are_not_pupils() -> None:
    assert named("Ruby Class have PE on Monday") == []
    assert named("Meet at Grace Road") == []


def test_titles_make_an_adult() -> None:
    assert named("Please speak to Mrs Ruby at the office") == []


def test_siblings_not_on_the_roster_do_not_count() -> None:
    text = "Amara and her little sister Kemi were collected by their aunt today."
    assert classify("", text, recipient_pupil="Amara Nwosu", roster=ROSTER + ["Amara Nwosu"]).other_pupil_named is False
    # a twin on the roster (same surname as the recipient) still counts
    twins = ROSTER + ["Kemi Nwosu", "Amara Nwosu"]
    result = classify("", "Amara and her twin sister Kemi Nwosu both won prizes.", recipient_pupil="Amara Nwosu",
                      roster=twins)
    assert result.other_pupil_named is True


def test_other_pupil_flag() -> None:
    assert other("Ben and Ruby worked brilliantly together today.") is True
    assert other("Ben worked brilliantly today.") is False
    assert other("Ben was kind to Summer Jones at break.") is True
    assert other("Ben will be in Ruby's group.", subject="Groups") is True


def test_staff_and_parents_are_not_other_pupils() -> None:
    assert other("Hi Ruby, Ben's PE kit is in lost property. Mr Hale") is False      # parent greeted
    assert other("Ben's reading book has been changed. Thanks, Grace (Year 2 TA)") is False  # staff sign-off
    assert other("From Monday Ben will move to Mr Wright's maths set.") is False     # surname with a title


def test_flag_is_none_without_recipient_or_roster() -> None:
    assert classify("", "Ruby was late.").other_pupil_named is None
    assert classify("", "Ruby was late.", roster=ROSTER).other_pupil_named is None
    assert classify("", "Ruby was late.", recipient_pupil="Ruby Wright").other_pupil_named is None


def test_matcher_is_built_once_and_reused() -> None:
    first = build_roster(ROSTER, "Ruby Wright")
    assert build_roster(list(ROSTER), "Ruby Wright") is first
    school = Roster(ROSTER)
    assert build_roster(school, "Ruby Wright") is school
    assert R.index_of("ruby WRIGHT") == 0 and R.index_of("Nobody Here") is None


def test_large_school_roster() -> None:
    letters = "abcdefghij"
    synthetic = [f"Pupil{a}{b} Surname{c}{d}" for a in letters for b in letters for c in letters for d in letters[:2]]
    big = Roster(synthetic + ROSTER)
    hits = big.find_in("Pupiljj Surnameja and Ruby sat together")
    assert [big.names[h.pupils[0]] for h in hits] == ["Pupiljj Surnameja", "Ruby Wright"]
