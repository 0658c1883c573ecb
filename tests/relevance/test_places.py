from __future__ import annotations

import re

import pytest

from bot.relevance import City, Classifier, Gazetteer


@pytest.fixture(scope="module")
def gaz(classifier: Classifier) -> Gazetteer:
    return classifier.gazetteer


def test_every_us_city_over_15k_with_well_formed_ids(gaz: Gazetteer) -> None:
    assert len(gaz.cities) > 3000
    ids = [c.id for c in gaz.cities]
    assert len(ids) == len(set(ids))
    for c in gaz.cities:
        assert isinstance(c, City)
        assert c.population >= 15000
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*-[a-z]{2}(-\d+)?", c.id), c.id
        assert c.label == f"{c.name}, {c.state}"
    for cid in [
        "chicago-il", "aurora-co", "aurora-il", "portland-or", "portland-me",
        "washington-dc", "new-york-ny", "los-angeles-ca",
    ]:  # fmt: skip
        assert gaz.get(cid) is not None, cid
    assert gaz.get("new-york-ny").label == "New York, NY"
    assert gaz.get("nope-zz") is None


@pytest.mark.parametrize(
    ("text", "cid"),
    [
        ("Chicago, IL", "chicago-il"),
        ("chicago-il", "chicago-il"),
        ("Chicago", "chicago-il"),
        ("chicago, illinois", "chicago-il"),
        ("CHICAGO IL", "chicago-il"),
        ("Aurora", "aurora-co"),  # ambiguous bare name: the most populous
        ("Aurora, IL", "aurora-il"),
        ("Aurora, Illinois", "aurora-il"),
        ("Portland, Maine", "portland-me"),
        ("Portland, ME", "portland-me"),
        ("Portland", "portland-or"),
        ("Washington, D.C.", "washington-dc"),
        ("Washington DC", "washington-dc"),
        ("New York City", "new-york-ny"),
        ("NYC", "new-york-ny"),
        ("St. Louis", "st-louis-mo"),
        ("Saint Louis, MO", "st-louis-mo"),
        ("Broadview", "chicago-il"),
        ("  naperville  ", "naperville-il"),
    ],
)
def test_resolve(gaz: Gazetteer, text: str, cid: str) -> None:
    city = gaz.resolve(text)
    assert city is not None and city.id == cid


@pytest.mark.parametrize("text", ["", "   ", "Atlantis", "Chicago, ZZ", "Portland, Texas, Mars"])
def test_resolve_unknown(gaz: Gazetteer, text: str) -> None:
    assert gaz.resolve(text) is None


def test_suggest(gaz: Gazetteer) -> None:
    top = gaz.suggest("", limit=5)
    assert [c.id for c in top][:2] == ["new-york-ny", "los-angeles-ca"]
    assert len(gaz.suggest("")) == 25
    chi = gaz.suggest("chi")
    assert chi[0].id == "chicago-il" and len(chi) <= 25
    assert all(c.name.lower().startswith("chi") for c in chi[:5])
    pops = [c.population for c in chi if c.name.lower().startswith("chi")]
    assert pops == sorted(pops, reverse=True)
    assert gaz.suggest("portland", limit=3)[0].id == "portland-or"
    assert "portland-me" in [c.id for c in gaz.suggest("portland", limit=3)]
    assert gaz.suggest("Portland, M")[0].id == "portland-me"
    assert gaz.suggest("chicgo")[0].id == "chicago-il"  # fuzzy
    assert gaz.suggest("minneapolsi")[0].id == "minneapolis-mn"
    assert gaz.suggest("a", limit=7) and len(gaz.suggest("a", limit=7)) == 7
    assert gaz.suggest("x", limit=0) == []
    assert len({c.id for c in gaz.suggest("san", limit=25)}) == len(gaz.suggest("san", limit=25))


@pytest.mark.parametrize(
    "suburb",
    [
        "cicero-il", "evanston-il", "oak-park-il", "elgin-il", "aurora-il", "naperville-il",
        "joliet-il", "waukegan-il", "berwyn-il", "skokie-il", "gary-in", "hammond-in",
    ],
)  # fmt: skip
def test_chicago_suburbs_route_to_chicago(gaz: Gazetteer, suburb: str) -> None:
    assert gaz.metro_core(suburb) == "chicago-il"


@pytest.mark.parametrize(
    ("city", "core"),
    [
        ("arlington-va", "washington-dc"),
        ("silver-spring-md", "washington-dc"),
        ("newark-nj", "new-york-ny"),
        ("brooklyn-ny", "new-york-ny"),
        ("santa-ana-ca", "los-angeles-ca"),
        ("gresham-or", "portland-or"),
        ("vancouver-wa", "portland-or"),
        ("saint-paul-mn", "minneapolis-mn"),
        ("metairie-la", "new-orleans-la"),
        ("southaven-ms", "memphis-tn"),
        ("concord-nc", "charlotte-nc"),
        ("aurora-co", "denver-co"),
        # across state lines, like the census's CBSAs
        ("gary-in", "chicago-il"),
        ("hammond-in", "chicago-il"),
        ("kenosha-wi", "chicago-il"),  # 83 km out: the outer ring
        ("camden-nj", "philadelphia-pa"),
        ("jersey-city-nj", "new-york-ny"),
        ("kansas-city-ks", "kansas-city-mo"),
        ("overland-park-ks", "kansas-city-mo"),
        # 50,000-person cores (the census's floor for a metropolitan area)
        ("normal-il", "bloomington-il"),
    ],
)
def test_metros_elsewhere(gaz: Gazetteer, city: str, core: str) -> None:
    assert gaz.metro_core(city) == core


def test_cores_and_far_cities_have_no_core(gaz: Gazetteer) -> None:
    for cid in ["chicago-il", "memphis-tn", "portland-me", "rockford-il", "springfield-il"]:
        assert gaz.metro_core(cid) is None, cid
    assert gaz.metro_core("portland-me") != "portland-or"


def test_outer_ring_never_absorbs_a_core(gaz: Gazetteer) -> None:
    for cid in ["milwaukee-wi", "baltimore-md", "riverside-ca", "tacoma-wa"]:
        core = gaz.metro_core(cid)
        assert core != "chicago-il" and core != "washington-dc" and core != "los-angeles-ca", cid
    assert gaz.metro_core("florence-az") is None  # 80 km from Phoenix: beyond the ring


@pytest.mark.parametrize(
    ("title", "summary", "want", "forbid"),
    [
        ("Eugene Levy hosts travel show", "The actor visits Italy.", set(), {"eugene-or"}),
        ("Savannah Guthrie returns to morning show", "", set(), {"savannah-ga"}),
        ("Eugene police arrest suspect", "Officers responded.", {"eugene-or"}, set()),
        ("Princess Charlotte attends Wimbledon", "", set(), {"charlotte-nc"}),
        ("Stadium welcomes fans to the West Valley city", "", set(), {"west-valley-city-ut"}),
        ("The village of Dolton buys a home", "", {"dolton-il", "chicago-il"}, set()),
        ("Detroit's automakers seek delay", "", set(), {"detroit-mi"}),
        ("Bears top Packers at Soldier Field", "", {"chicago-il"}, {"green-bay-wi"}),
        ("Saints beat the visiting Atlanta Falcons at the Superdome", "The rookie "
         "quarterback threw two touchdowns.",
         {"new-orleans-la"}, {"atlanta-ga"}),
    ],
)  # fmt: skip
def test_people_words_and_venues(
    classifier: Classifier, title: str, summary: str, want: set, forbid: set
) -> None:
    m = classifier.classify(title, summary)
    got = set(m.cities)
    assert want <= got, m.why
    assert not (forbid & got), m.why
