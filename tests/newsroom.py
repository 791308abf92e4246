"""A small day of local news from three outlets, written for the tests.

Two events are reported by more than one outlet, in each outlet's own words:
the Riverside tram line (all three) and the Kestrel Chemicals fire (two).
The other items are covered by one outlet each.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from digest.models import Article

NOW = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)
OUTLETS = {"Harbour Herald": 2, "Valley Times": 1, "Metro Wire": 0}

TRAM = ("herald-tram", "valley-tram", "wire-tram")
FIRE = ("herald-fire", "wire-fire")

STORIES: dict[str, tuple[str, str, str, str, float]] = {
    # id: (outlet, section, title, text, hours ago)
    "herald-tram": (
        "Harbour Herald",
        "City",
        "Riverside council approves £240m tram line to the harbour",
        "Riverside city council voted 31 to 12 on Monday night to build a £240m tram line linking "
        "the railway station with the harbour district. Construction of the 6.5-mile route is "
        "due to start next spring, with the first trams running in 2029. Council leader Aileen "
        "Morrow called the vote a turning point for the harbour district.\n\nOpponents warned "
        "that months of roadworks would hurt shops along Quay Street.",
        9.0,
    ),
    "valley-tram": (
        "Valley Times",
        "Politics",
        "Tram to the harbour gets green light after heated council debate",
        "After a four-hour debate, Riverside councillors backed plans for a tram line between the "
        "station and the harbour, by 31 votes to 12. Aileen Morrow, the council leader, said the "
        "£240m line would cut traffic on Quay Street and open the harbour district to new homes. "
        "Shopkeepers fear the roadworks will drive customers away.",
        8.0,
    ),
    "wire-tram": (
        "Metro Wire",
        "Transport",
        "Riverside votes for harbour tram; work to start next spring",
        "Riverside will get a tram. Councillors approved the £240m, 6.5-mile line from the station "
        "to the harbour district on Monday, 31 to 12. Trams are expected to run from 2029, council "
        "leader Aileen Morrow said.",
        7.0,
    ),
    "herald-fire": (
        "Harbour Herald",
        "City",
        "Hundreds evacuated as fire engulfs Kestrel Chemicals plant in Dunmore",
        "About 400 residents of Dunmore were told to leave their homes overnight after a fire broke "
        "out at the Kestrel Chemicals plant on the edge of the town. Eight fire engines fought the "
        "blaze, which sent black smoke over the valley. The company said solvent tanks had caught "
        "fire and that no workers were hurt.",
        5.0,
    ),
    "wire-fire": (
        "Metro Wire",
        "Breaking",
        "Dunmore chemical plant blaze forces 400 from their homes",
        "Firefighters battled a blaze at Kestrel Chemicals in Dunmore through the night as 400 "
        "people were evacuated. Solvent tanks at the plant caught fire shortly after midnight, "
        "Kestrel said; smoke drifted across the valley and schools will stay shut today.",
        4.0,
    ),
    "herald-library": (
        "Harbour Herald",
        "City",
        "Central library to open on Sundays from July",
        "The central library will open its doors on Sundays from July, the first time in a decade, "
        "after volunteers offered to staff the reading rooms. Children's story hours and a repair "
        "café will run on Sunday afternoons.",
        3.0,
    ),
    "valley-coach": (
        "Valley Times",
        "Sport",
        "Valley Rovers appoint former captain Dan Okafor as head coach",
        "Valley Rovers have named their former captain Dan Okafor as head coach on a three-year "
        "contract. Okafor, who made 212 appearances for the club, takes over from Pete Lund, who "
        "left in April after relegation.",
        2.0,
    ),
    "valley-bakery": (
        "Valley Times",
        "Food",
        "Family bakery's sourdough named best loaf in the country",
        "A sourdough baked by the Hollis family in Marsh Lane has won the national Bread of the "
        "Year award. Judges praised its crust and open crumb; the bakery has been in the family "
        "for three generations.",
        6.0,
    ),
    "wire-airport": (
        "Metro Wire",
        "Business",
        "Regional airport passenger numbers hit record in May",
        "More than 310,000 passengers flew through the regional airport in May, a record for the "
        "month, helped by new summer flights to Lisbon and Split. The airport expects 3.4 million "
        "passengers this year.",
        1.5,
    ),
    "wire-heat": (
        "Metro Wire",
        "Weather",
        "Heat warning issued for the weekend as temperatures head for 33C",
        "Forecasters have issued an amber heat warning for Saturday and Sunday, with temperatures "
        "expected to reach 33C inland. Older people are advised to stay indoors in the afternoon.",
        1.0,
    ),
}


def article(story_id: str, *, now: datetime = NOW) -> Article:
    outlet, section, title, text, hours = STORIES[story_id]
    return Article(
        id=f"tag:{story_id}",
        source=outlet,
        section=section,
        url=f"https://{outlet.lower().replace(' ', '-')}.example/{story_id}",
        title=title,
        text=text,
        published=now - timedelta(hours=hours),
        priority=OUTLETS[outlet],
    )


def day(*, now: datetime = NOW) -> list[Article]:
    """Every article of the day."""
    return [article(story_id, now=now) for story_id in STORIES]


def later(story_id: str, *, hours: float, **changes: str) -> Article:
    """An article as it reads ``hours`` after NOW (a new item, or an update of one)."""
    original = article(story_id)
    return replace(original, published=original.published + timedelta(hours=hours), **changes)
