#!/usr/bin/env python3
"""Regenerate ftstudio's built-in demo datasets.

Every sentence produced here is composed from phrase pools written by hand for
ftstudio (no external corpus is read). Output is deterministic (fixed seed):

    python resources/datasets/make_demo_data.py

writes sentiment.csv, topics.csv and instructions.jsonl next to this file.
Licence: Apache-2.0, same as the project.
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 1234

SENTIMENT_PER_LABEL = 260
TOPICS_PER_LABEL = 110


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def tidy(s: str) -> str:
    s = " ".join(s.split())
    return cap(s)


# --------------------------------------------------------------------------
# sentiment
# --------------------------------------------------------------------------

DOMAINS = {
    "product": {
        "subjects": ["this blender", "the laptop", "this vacuum cleaner", "the phone case",
                     "this keyboard", "the coffee maker", "this backpack", "the desk lamp",
                     "this electric kettle", "the wireless mouse", "this air fryer",
                     "the smartwatch", "this office chair", "the bluetooth speaker"],
        "aspects": ["the build quality", "the setup", "the durability", "the delivery",
                    "the design", "the instruction manual", "the packaging", "the warranty",
                    "the value for money", "the finish"],
        "verb": "bought",
    },
    "movie": {
        "subjects": ["this movie", "the film", "this sequel", "the documentary",
                     "this thriller", "the comedy", "this animated feature", "the remake",
                     "this horror flick", "the period drama", "this sci-fi epic"],
        "aspects": ["the acting", "the plot", "the soundtrack", "the pacing", "the dialogue",
                    "the ending", "the cinematography", "the special effects", "the script",
                    "the lead performance"],
        "verb": "watched",
    },
    "restaurant": {
        "subjects": ["this restaurant", "the cafe", "the new taco place", "this bistro",
                     "the pizza shop", "this sushi bar", "the diner on Main Street",
                     "this bakery", "the noodle house", "this steakhouse", "the food truck"],
        "aspects": ["the service", "the food", "the pasta", "the dessert menu", "the coffee",
                    "the staff", "the atmosphere", "the wine list", "the seating",
                    "the portion size"],
        "verb": "tried",
    },
    "app": {
        "subjects": ["this app", "the latest update", "the new version", "this budgeting app",
                     "the fitness tracker app", "this photo editor", "the banking app",
                     "this language learning app", "the weather app", "this note-taking app",
                     "the podcast player"],
        "aspects": ["the interface", "the notifications", "the loading speed", "the sync",
                    "customer support", "the dark mode", "the search feature", "the onboarding",
                    "the offline mode", "the free tier"],
        "verb": "installed",
    },
}

POS_ADJ = ["great", "excellent", "fantastic", "superb", "impressive", "solid", "wonderful",
           "outstanding", "top-notch", "really good"]
NEG_ADJ = ["terrible", "awful", "disappointing", "poor", "mediocre", "dreadful",
           "underwhelming", "a letdown", "pretty bad"]
# adjectives that read naturally after "not" / "far from"
NEG_ADJ_NEGATABLE = ["terrible", "awful", "disappointing", "bad", "as bad as people say",
                     "overrated"]
POS_ADJ_NEGATABLE = ["great", "good", "worth it", "impressive", "what I hoped for",
                     "as good as the reviews claim", "worth the hype"]

POS_TEMPLATES = [
    "{subj} is {pos} and {aspect} is {pos2}.",
    "Really happy with {subj}; {aspect} is {pos}.",
    "Honestly, {subj} is not {negn} at all. {Aspect} really surprised me.",
    "I expected {subj} to be {neg}, but it turned out {pos}.",
    "Would happily recommend {subj} to a friend; {aspect} alone makes it worth it.",
    "{Aspect} could be better, but overall {subj} is {pos}.",
    "Five stars. {Aspect} is {pos} and I have zero complaints.",
    "I {verb} {subj} last week and I'm genuinely impressed.",
    "Can't say enough good things about {aspect}. {subj} is {pos}.",
    "{subj} exceeded my expectations, especially {aspect}.",
    "Not what I expected, in a good way: {aspect} is {pos}.",
    "I was skeptical at first, yet {subj} won me over.",
    "{Aspect} is {pos}, {aspect2} is {pos2}, and I have no complaints.",
    "Never thought {subj} would be this {pos}. No regrets at all.",
    "Zero problems so far, and {aspect} is {pos}.",
    "My friends were right, {subj} is {pos}.",
]
NEG_TEMPLATES = [
    "{subj} is {neg}, and {aspect} is {neg2}.",
    "Not {posn} at all. {Aspect} let me down.",
    "I wanted to like {subj}, but {aspect} is {neg}.",
    "{Aspect} is {pos}, but everything else about {subj} is {neg}.",
    "Would not recommend {subj}; {aspect} is {neg}.",
    "I {verb} {subj} and regretted it almost immediately.",
    "One star. {Aspect} is {neg} and nobody seems to care.",
    "{subj} is far from {posn}, and {aspect} makes it worse.",
    "I really don't get the praise for {subj}. {Aspect} is {neg}.",
    "Save yourself the trouble and skip {subj}.",
    "{subj} never lives up to the hype; {aspect} is {neg}.",
    "Everyone said {subj} was {pos}, but I found it {neg}.",
    "Sadly {aspect} is {neg} and {aspect2} isn't any better.",
    "I gave {subj} a second chance and it was still {neg}.",
    "Really unhappy with {subj}. {Aspect} is {neg} and {aspect2} is not much better.",
    "Hard to believe anyone finds {subj} {pos}; {aspect} is {neg}.",
]

# Hand-written standalone reviews (domain flavour, idioms, sarcasm-free but varied).
POS_HANDWRITTEN = [
    "The pasta tasted like my grandmother's cooking. We will definitely be back.",
    "Arrived a day early, works perfectly, and the price was fair.",
    "I laughed out loud three times and teared up once. What a film.",
    "The waiter remembered our names from last time, which was a lovely touch.",
    "After the update the app finally stopped crashing. Thank you, developers!",
    "Best ramen I've had outside of Tokyo, and the broth is rich without being greasy.",
    "This kettle boils water in under two minutes and looks great on the counter.",
    "Two hours flew by; I didn't check my phone once.",
    "Setup took five minutes and the instructions were actually clear.",
    "The soundtrack is still stuck in my head days later, in the best way.",
    "Cozy little place, friendly staff, and the croissants are flaky perfection.",
    "I've used this budgeting app for a year and I finally have savings.",
    "Sturdy, comfortable, and my back pain is noticeably better since I switched chairs.",
    "Not a single bug in weeks, and syncing between my phone and laptop is instant.",
    "The dumplings were juicy and the chili oil had real kick. Loved it.",
    "A quiet, thoughtful documentary that stayed with me long after the credits.",
    "Battery easily lasts two full days, which is more than I expected.",
    "Portions are generous and nothing on the menu costs more than it should.",
    "Clean interface, no ads, and it does exactly what it promises.",
    "The twist in the last act was earned, not cheap. Brilliant writing.",
    "Customer support replaced my broken charger within a week, no questions asked.",
    "I wasn't hungry when we arrived, but I cleaned my plate anyway.",
    "Simple to use, even my dad figured it out without calling me.",
    "The cast has wonderful chemistry and the jokes actually land.",
]
NEG_HANDWRITTEN = [
    "The soup was cold and the bread tasted at least a day old.",
    "Stopped charging after three weeks and the seller ignores my emails.",
    "Two and a half hours of my life I will never get back.",
    "We waited forty minutes for a table we had reserved.",
    "The app logs me out every single time I switch screens.",
    "Overpriced, undercooked, and the waiter rolled his eyes at us.",
    "The plastic hinge snapped the first time I opened it.",
    "The plot has more holes than a sponge and the ending makes no sense.",
    "Every update adds more ads and removes features I actually used.",
    "The noise this vacuum makes is unbearable, and it barely picks up crumbs.",
    "I couldn't tell the two main characters apart, and neither could the script.",
    "Our burgers came out raw in the middle even after we sent them back.",
    "It drains my phone battery faster than any game I own.",
    "The fabric started pilling after one wash. Not worth half the price.",
    "Predictable jokes, flat acting, and a soundtrack that never stops.",
    "Customer support closed my ticket without reading it.",
    "The coffee was burnt and the pastries were stale.",
    "Great trailer, shame about the actual movie.",
    "Sync fails silently, so I lost a week of notes.",
    "The manual is useless and the buttons don't do what the labels say.",
    "Loud music, sticky tables, and the fries were soggy.",
    "I fell asleep halfway through and didn't feel like I missed anything.",
    "The subscription renewed without warning and refunds are impossible.",
    "It looked nothing like the photos and smelled like burnt plastic.",
]


def _fill(tpl: str, dom: dict, rng: random.Random, pos_pool=POS_ADJ, neg_pool=NEG_ADJ) -> str:
    aspect, aspect2 = rng.sample(dom["aspects"], 2)
    pos, pos2 = rng.sample(pos_pool, 2)
    neg, neg2 = rng.sample(neg_pool, 2)
    text = tpl.format(
        subj=rng.choice(dom["subjects"]), aspect=aspect, Aspect=cap(aspect), aspect2=aspect2,
        pos=pos, pos2=pos2, neg=neg, neg2=neg2,
        posn=rng.choice(POS_ADJ_NEGATABLE), negn=rng.choice(NEG_ADJ_NEGATABLE),
        verb=dom["verb"],
    )
    return tidy(text)


def make_sentiment(rng: random.Random) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for label, templates, hand in (("positive", POS_TEMPLATES, POS_HANDWRITTEN),
                                   ("negative", NEG_TEMPLATES, NEG_HANDWRITTEN)):
        seen = set(hand)
        texts = list(hand)
        doms = list(DOMAINS.values())
        attempts = 0
        while len(texts) < SENTIMENT_PER_LABEL:
            attempts += 1
            assert attempts < 100_000, "phrase pools too small"
            # cycle templates and domains evenly so no single pattern dominates
            tpl = templates[attempts % len(templates)]
            dom = doms[(attempts // len(templates)) % len(doms)]
            t = _fill(tpl, dom, rng)
            if t not in seen:
                seen.add(t)
                texts.append(t)
        rows += [(t, label) for t in texts]
    rng.shuffle(rows)
    return rows


# --------------------------------------------------------------------------
# topics
# --------------------------------------------------------------------------

TEAMS = ["Harbor City Hawks", "Riverside Rovers", "Northfield United", "Westbrook Wolves",
         "Granite Bay Giants", "Lakeshore Lions", "Eastport Eagles", "Summit Falcons",
         "Pine Valley Rangers", "Redstone Rockets", "Bayview Bulls", "Oakridge Athletic"]
SPORT_EVENTS = ["the national cup final", "the regional championship", "the season opener",
                "the league semifinal", "the winter classic", "the derby"]
ATHLETE_ROLES = ["star striker", "veteran goalkeeper", "rookie quarterback", "team captain",
                 "point guard", "ace pitcher", "title-winning coach", "teenage sprinter"]
COUNTRIES = ["Brazil", "Japan", "Kenya", "Norway", "Canada", "India", "Germany", "Mexico",
             "Australia", "Egypt", "South Korea", "Chile", "Poland", "Vietnam", "Ghana",
             "Portugal", "Indonesia", "Morocco", "Argentina", "Finland"]
SPORTS_EVENTS2 = ["the marathon", "the 400 metres", "the cycling road race",
                  "the women's doubles", "the men's slalom", "the relay", "the triathlon",
                  "the rowing eights"]
SPORTS_T = [
    "{team} beat {team2} {a}-{b} to reach {event}",
    "{team} edge past {team2} in overtime thriller",
    "{role} signs {n}-year contract extension with {team}",
    "Injury rules {team} {role} out of {event}",
    "{country} takes gold in {sevent} at world championships",
    "{team} sack manager after {n} straight defeats",
    "Late goal rescues draw for {team} against {team2}",
    "{country} names squad for upcoming world cup qualifiers",
    "Rain delays {event} between {team} and {team2}",
    "{team} {role} breaks club scoring record",
    "{country} sprinter sets new national record in the {sprint}",
    "Fans celebrate as {team} clinch first title in {n} decades",
    "{team} unveil new stadium plans ahead of {event}",
    "{country} upsets favourites to win {sevent}",
]

COMPANIES = ["Northwind Logistics", "Brightline Foods", "Cobalt Systems", "Meridian Bank",
             "Silverleaf Retail", "Apex Motors", "Bluewater Energy", "Lumen Pharmaceuticals",
             "Kestrel Airlines", "Orchard Telecom", "Pinnacle Insurance", "Vantage Steel"]
BIZ_GOOD = ["strong quarterly earnings", "record online orders", "a major supply contract",
            "an upbeat sales forecast", "a successful product launch"]
BIZ_BAD = ["a surprise profit warning", "weak holiday sales", "rising fuel costs",
           "slowing demand in Asia", "an accounting scandal"]
BIZ_T = [
    "{co} shares rise {pct} percent after {good}",
    "{co} shares fall {pct} percent after {bad}",
    "{co} to cut {n}00 jobs amid {bad}",
    "{co} agrees to buy {co2} in ${amt} billion deal",
    "Central bank in {country} holds interest rates at {pct} percent",
    "{co} reports {pct} percent jump in annual revenue",
    "Inflation in {country} eases to {pct} percent, lifting markets",
    "{co} opens new factory in {country}, creating {n}00 jobs",
    "Regulators approve merger of {co} and {co2}",
    "{co} chief executive steps down after {bad}",
    "Stock markets in {country} close higher as {co} reports {good}",
    "{co} raises ${amt} billion in bond sale",
    "Oil prices climb as {co} warns of supply shortfall",
    "{co} plans to list shares on a stock exchange in {country}",
]

SCI_FINDS = ["a new species of frog in the Amazon rainforest",
             "ancient microbes trapped in Antarctic ice",
             "a previously unknown moth in a remote mountain range",
             "fossilized dinosaur eggs in the Gobi Desert",
             "a deep-sea coral reef off the coast of Australia",
             "traces of ancient water inside meteorite fragments",
             "a giant underground cave system in southern China",
             "a rare blind fish in a flooded cave",
             "bacteria that break down plastic in a landfill",
             "a 3,000-year-old shipwreck in the Mediterranean"]
ASTRO = ["a planet orbiting two suns", "water vapour around a distant exoplanet",
         "the most distant galaxy yet observed", "a black hole tearing apart a star",
         "a new moon around Saturn", "a fast radio burst from a nearby galaxy",
         "an asteroid with its own tiny moon", "a comet that visits every 400 years"]
TECH = ["a low-cost water filter made from wood", "a biodegradable plastic from seaweed",
        "a solar panel that works in low light", "a blood test for early cancer detection",
        "a robotic hand with a sense of touch", "a drought-resistant rice variety",
        "a cheap sensor for detecting air pollution", "a faster way to recycle lithium batteries"]
OCEAN = ["humpback whales singing a new song", "coral recovering after a marine heatwave",
         "octopuses using coconut shells as tools", "sharks migrating farther north",
         "a record number of sea turtle nests", "glowing plankton blooms along the coast"]
ICE = ["Greenland", "Antarctica", "Alpine glaciers", "the Arctic Ocean", "Himalayan glaciers"]
VOLCANOES = ["an Icelandic volcano", "a dormant volcano in Italy", "a volcanic island in the Pacific",
             "the Yellowstone caldera"]
PLANETS = ["Mars", "Jupiter's moon Europa", "Venus", "Saturn's moon Titan", "a near-Earth asteroid",
           "the far side of the Moon", "Mercury"]
# (factor, outcome) pairs kept plausible on purpose
STUDY_PAIRS = [("regular exercise", "better memory in older adults"),
               ("poor sleep", "higher risk of heart disease"),
               ("air pollution", "more childhood asthma"),
               ("a diet rich in fibre", "improved gut health"),
               ("daily meditation", "reduced anxiety"),
               ("late-night screen time", "shorter sleep in teenagers"),
               ("moderate coffee consumption", "lower risk of liver disease"),
               ("long commutes", "higher stress levels"),
               ("learning a second language", "slower cognitive decline"),
               ("cutting salt intake", "lower blood pressure")]
SCI_T = [
    "Researchers discover {find}",
    "Space agency launches probe to {planet}",
    "Study links {factor} to {outcome}",
    "New telescope images reveal clues about {planet}",
    "Scientists map genome of {thing2}",
    "Physicists report record-breaking {physics}",
    "Climate researchers measure faster ice loss in {ice}",
    "Engineers build battery that charges in {n} minutes",
    "Lab-grown tissue helps scientists study {disease}",
    "Mars rover finds evidence of {marsfind}",
    "New vaccine trial shows promise against {disease}",
    "Researchers train robots to sort recycling using machine learning",
    "Astronomers detect {astro}",
    "Scientists develop {tech}",
    "Genetic study traces origins of {thing2}",
    "Marine biologists record {ocean}",
    "Geologists warn of rising activity beneath {volcano}",
    "Trial finds {factor} may lead to {outcome}",
]
SCI_THINGS2 = ["the honeybee", "a drought-resistant wheat", "the axolotl", "the giant panda",
               "a glowing deep-sea fish", "the common octopus",
               "the domestic cat", "the tomato"]
PHYSICS = ["quantum computer accuracy", "laser pulse duration", "fusion reactor output",
           "superconductor temperature", "atomic clock precision",
           "magnetic field strength", "particle collision energy", "data transfer speed over fibre"]
DISEASES = ["malaria", "Alzheimer's disease", "tuberculosis", "cystic fibrosis", "influenza",
            "type 1 diabetes", "measles", "dengue fever"]

WORLD_TOPICS = ["trade", "climate", "border security", "energy", "migration", "water sharing"]
REGIONS = ["the coastal provinces", "the northern highlands", "the river delta",
           "the eastern border region", "the capital", "several southern districts"]
WORLD_T = [
    "{country} and {country2} sign {wtopic} agreement",
    "Voters in {country} head to the polls in tight election",
    "Floods displace thousands in {region} of {country}",
    "United Nations calls for ceasefire in {region} of {country}",
    "President of {country} visits {country2} for talks on {wtopic}",
    "Protesters in {country} demand government action on {wtopic}",
    "{country} declares state of emergency after earthquake hits {region}",
    "Foreign ministers of {country} and {country2} meet to ease tensions",
    "{country} opens border crossing with {country2} after years of closure",
    "Aid convoy reaches {region} of {country} as crisis deepens",
    "Parliament in {country} passes new law on {wtopic}",
    "Wildfires force evacuations in {region} of {country}",
    "Leaders gather in {country} for summit on {wtopic}",
    "{country} recalls ambassador from {country2} amid diplomatic row",
]


def _headline(tpl: str, rng: random.Random) -> str:
    team, team2 = rng.sample(TEAMS, 2)
    co, co2 = rng.sample(COMPANIES, 2)
    country, country2 = rng.sample(COUNTRIES, 2)
    a = rng.randint(1, 5)
    study = rng.choice(STUDY_PAIRS)
    return tidy(tpl.format(
        team=team, team2=team2, a=a, b=rng.randint(0, a - 1), event=rng.choice(SPORT_EVENTS),
        role=rng.choice(ATHLETE_ROLES), n=rng.randint(2, 9), country=country,
        country2=country2, sevent=rng.choice(SPORTS_EVENTS2),
        sprint=rng.choice(["100 metres", "200 metres", "400 metres", "60 metres indoors"]), co=co, co2=co2,
        pct=rng.choice(["1.5", "2", "3", "4.5", "6", "8", "12"]),
        good=rng.choice(BIZ_GOOD), bad=rng.choice(BIZ_BAD), amt=rng.choice(["1.2", "2", "3.5", "7", "11", "15"]),
        marsfind=rng.choice(["ancient lakes", "organic molecules", "a dried-up river delta",
                             "seasonal methane changes"]),
        astro=rng.choice(ASTRO), tech=rng.choice(TECH), ocean=rng.choice(OCEAN),
        find=rng.choice(SCI_FINDS), thing2=rng.choice(SCI_THINGS2), ice=rng.choice(ICE),
        volcano=rng.choice(VOLCANOES), planet=rng.choice(PLANETS),
        factor=study[0], outcome=study[1], physics=rng.choice(PHYSICS),
        disease=rng.choice(DISEASES), wtopic=rng.choice(WORLD_TOPICS), region=rng.choice(REGIONS),
    ))


def make_topics(rng: random.Random) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for label, templates in (("sports", SPORTS_T), ("business", BIZ_T),
                             ("science", SCI_T), ("world", WORLD_T)):
        seen: set[str] = set()
        # template-level cap so fixed headlines (no slots) appear only once
        attempts = 0
        while len(seen) < TOPICS_PER_LABEL:
            attempts += 1
            assert attempts < 100_000, "phrase pools too small"
            tpl = templates[attempts % len(templates)]
            seen.add(_headline(tpl, rng))
        rows += [(t, label) for t in sorted(seen)]
    rng.shuffle(rows)
    return rows


# --------------------------------------------------------------------------
# instructions
# --------------------------------------------------------------------------

INSTRUCTIONS_HANDWRITTEN: list[tuple[str, str]] = [
    # general knowledge
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is the capital of Japan?", "The capital of Japan is Tokyo."),
    ("What is the capital of Canada?", "The capital of Canada is Ottawa, not Toronto as many people guess."),
    ("What is the capital of Australia?", "The capital of Australia is Canberra."),
    ("How many continents are there?", "There are seven continents: Africa, Antarctica, Asia, Australia (Oceania), Europe, North America and South America."),
    ("What is the largest planet in our solar system?", "Jupiter is the largest planet in our solar system. It is a gas giant more than eleven times wider than Earth."),
    ("Which planet is closest to the Sun?", "Mercury is the planet closest to the Sun."),
    ("What gas do plants absorb from the air?", "Plants absorb carbon dioxide from the air and use it, together with water and sunlight, to make sugars during photosynthesis."),
    ("At what temperature does water boil at sea level?", "At sea level, water boils at 100 degrees Celsius, which is 212 degrees Fahrenheit."),
    ("At what temperature does water freeze?", "Pure water freezes at 0 degrees Celsius, or 32 degrees Fahrenheit."),
    ("How many days are there in a leap year?", "A leap year has 366 days, one more than a regular year, because February gets a 29th day."),
    ("Who wrote 'Romeo and Juliet'?", "'Romeo and Juliet' was written by William Shakespeare."),
    ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au, from its Latin name aurum."),
    ("What is the chemical formula for water?", "The chemical formula for water is H2O: two hydrogen atoms bonded to one oxygen atom."),
    ("What is the longest river in Africa?", "The Nile is generally considered the longest river in Africa."),
    ("How many sides does a hexagon have?", "A hexagon has six sides."),
    ("How many minutes are in an hour?", "There are 60 minutes in an hour."),
    ("How many hours are in a week?", "A week has 168 hours, because 7 days times 24 hours is 168."),
    ("What is the largest ocean on Earth?", "The Pacific Ocean is the largest ocean on Earth."),
    ("What is the hardest natural substance?", "Diamond is the hardest naturally occurring substance."),
    ("What do bees make?", "Bees make honey from flower nectar, and they also produce beeswax."),
    ("What is the main language spoken in Brazil?", "The main language spoken in Brazil is Portuguese."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What organ pumps blood through the body?", "The heart pumps blood through the body."),
    ("What is the freezing point of water in Fahrenheit?", "Water freezes at 32 degrees Fahrenheit."),
    ("Which is the smallest prime number?", "The smallest prime number is 2, and it is also the only even prime."),
    # definitions
    ("Define the word 'photosynthesis'.", "Photosynthesis is the process plants, algae and some bacteria use to turn sunlight, water and carbon dioxide into sugar and oxygen."),
    ("What does 'ephemeral' mean?", "'Ephemeral' means lasting for a very short time. For example, a soap bubble is ephemeral."),
    ("What is a noun?", "A noun is a word that names a person, place, thing or idea, such as 'teacher', 'city' or 'happiness'."),
    ("What is a verb?", "A verb is a word that describes an action or a state, like 'run', 'think' or 'be'."),
    ("Define 'gravity' in simple terms.", "Gravity is the force that pulls objects toward each other. It is why things fall to the ground and why the Moon orbits Earth."),
    ("What is an algorithm?", "An algorithm is a step-by-step set of instructions for solving a problem or completing a task, like a recipe for a computer."),
    ("What does 'empathy' mean?", "Empathy is the ability to understand and share the feelings of another person."),
    ("What is a prime number?", "A prime number is a whole number greater than 1 that can only be divided evenly by 1 and itself, such as 2, 3, 5 or 7."),
    ("What is inflation?", "Inflation is the general rise in prices over time, which means the same amount of money buys a little less than before."),
    ("What is a mammal?", "A mammal is a warm-blooded animal with hair or fur that feeds its young with milk. Dogs, whales and humans are all mammals."),
    ("Explain what a budget is.", "A budget is a plan for how you will spend and save money over a period of time. It helps you make sure you don't spend more than you earn."),
    ("What is fine-tuning in machine learning?", "Fine-tuning means taking a model that was already trained on a lot of data and training it a bit more on a smaller dataset for a specific task."),
    ("What is a synonym?", "A synonym is a word with the same or nearly the same meaning as another word, like 'big' and 'large'."),
    ("What is an antonym?", "An antonym is a word with the opposite meaning of another word, like 'hot' and 'cold'."),
    ("What does 'procrastinate' mean?", "To procrastinate means to delay or put off doing something, usually something you should be doing now."),
    ("What is the difference between weather and climate?", "Weather is the condition of the atmosphere on a particular day, while climate is the average pattern of weather in a place over many years."),
    ("What is a haiku?", "A haiku is a short Japanese-style poem with three lines, traditionally of five, seven and five syllables."),
    ("What is renewable energy?", "Renewable energy comes from sources that naturally replenish, such as sunlight, wind and flowing water."),
    # rewriting
    ("Rewrite this sentence more politely: 'Give me the report now.'", "Could you please send me the report when you have a moment?"),
    ("Make this sentence more formal: 'Hey, can't make it to the meeting tomorrow.'", "Hello, unfortunately I will not be able to attend tomorrow's meeting."),
    ("Fix the grammar: 'She don't like apples.'", "The corrected sentence is: 'She doesn't like apples.'"),
    ("Fix the grammar: 'Me and him went to the store.'", "The corrected sentence is: 'He and I went to the store.'"),
    ("Rewrite in the past tense: 'I walk to school every day.'", "In the past tense: 'I walked to school every day.'"),
    ("Rewrite in the future tense: 'They visit their grandparents.'", "In the future tense: 'They will visit their grandparents.'"),
    ("Make this sentence shorter: 'Due to the fact that it was raining, we decided to stay inside the house.'", "Because it was raining, we stayed inside."),
    ("Turn this into a question: 'The train leaves at noon.'", "Does the train leave at noon?"),
    ("Rewrite this sentence in the passive voice: 'The chef cooked the meal.'", "The meal was cooked by the chef."),
    ("Rewrite this sentence in the active voice: 'The ball was thrown by Sam.'", "Sam threw the ball."),
    ("Make this sentence sound more enthusiastic: 'The party was fine.'", "The party was fantastic, and I had a wonderful time!"),
    ("Rewrite this for a child: 'Precipitation is expected this afternoon.'", "It's probably going to rain this afternoon, so bring your umbrella!"),
    ("Correct the spelling: 'I recieved your mesage yesturday.'", "The corrected sentence is: 'I received your message yesterday.'"),
    ("Summarize in one sentence: 'The library will be closed on Monday for repairs. It will reopen on Tuesday at 9 a.m. with normal hours.'", "The library is closed Monday for repairs and reopens Tuesday at 9 a.m."),
    ("Paraphrase: 'The early bird catches the worm.'", "People who start early or act quickly are more likely to succeed."),
    ("Rewrite this sentence without jargon: 'We need to leverage our synergies going forward.'", "We should work together more effectively from now on."),
    ("Translate 'thank you' into Spanish.", "'Thank you' in Spanish is 'gracias'."),
    ("Translate 'good morning' into French.", "'Good morning' in French is 'bonjour'."),
    ("Translate 'hello' into German.", "'Hello' in German is 'hallo', or more formally 'guten Tag'."),
    # lists
    ("List three primary colors.", "The three traditional primary colors are red, yellow and blue."),
    ("Name three fruits that are high in vitamin C.", "Oranges, strawberries and kiwis are all high in vitamin C."),
    ("List four seasons of the year.", "The four seasons are spring, summer, autumn (fall) and winter."),
    ("Give me three tips for better sleep.", "Keep a regular bedtime, avoid screens for an hour before sleep, and keep your bedroom cool and dark."),
    ("List three ways to save water at home.", "Take shorter showers, fix leaky taps quickly, and only run the dishwasher or washing machine when it is full."),
    ("Name three planets besides Earth.", "Three planets besides Earth are Mars, Venus and Saturn."),
    ("List the days of the week.", "The days of the week are Monday, Tuesday, Wednesday, Thursday, Friday, Saturday and Sunday."),
    ("Give three examples of mammals that live in the ocean.", "Whales, dolphins and seals are mammals that live in the ocean."),
    ("Suggest three healthy breakfast ideas.", "Try oatmeal with berries, Greek yogurt with nuts, or whole-grain toast with avocado and an egg."),
    ("List three benefits of regular exercise.", "Regular exercise strengthens your heart, improves your mood and helps you sleep better."),
    ("Name three programming languages.", "Three popular programming languages are Python, JavaScript and Java."),
    ("Give me three ideas for a rainy day.", "You could read a good book, try a new recipe, or have a board game afternoon."),
    ("List three things to pack for a beach trip.", "Bring sunscreen, a towel and plenty of water."),
    ("Name the three states of matter most people learn about in school.", "The three classic states of matter are solid, liquid and gas."),
    ("Suggest three names for a friendly golden retriever.", "How about Sunny, Biscuit or Maple?"),
    ("List three common cloud types.", "Three common cloud types are cumulus, stratus and cirrus."),
    # how-to / advice
    ("How do I boil an egg?", "Place the egg in a pot of boiling water and cook it for about 7 minutes for a jammy yolk or 10 minutes for hard-boiled. Then cool it in cold water before peeling."),
    ("How can I stay focused while studying?", "Put your phone in another room, work in short blocks of about 25 minutes, and take a quick break between them."),
    ("How do I convert Celsius to Fahrenheit?", "Multiply the Celsius temperature by 9/5 and then add 32. For example, 20 degrees Celsius is 68 degrees Fahrenheit."),
    ("How do you calculate the area of a rectangle?", "Multiply its length by its width. A rectangle 4 meters long and 3 meters wide has an area of 12 square meters."),
    ("How do you find the average of a list of numbers?", "Add all the numbers together and divide by how many numbers there are. The average of 2, 4 and 9 is 15 divided by 3, which is 5."),
    ("Write a short greeting for a birthday card.", "Happy birthday! Wishing you a year full of laughter, good friends and wonderful surprises."),
    ("Write a one-sentence thank-you note to a colleague.", "Thank you so much for your help on the project this week; I couldn't have finished it without you."),
    ("Write a friendly out-of-office reply.", "Thanks for your message! I'm away until Monday and will reply as soon as I'm back."),
    ("Give me a fun fact about octopuses.", "Octopuses have three hearts and blue blood."),
    ("Tell me a fun fact about the Moon.", "The Moon is slowly drifting away from Earth, by about 3.8 centimeters each year."),
    ("Classify this review as positive or negative: 'The food was cold and the service was slow.'", "This review is negative."),
    ("Classify this review as positive or negative: 'Absolutely loved the atmosphere and the staff!'", "This review is positive."),
    ("Is a tomato a fruit or a vegetable?", "Botanically, a tomato is a fruit because it grows from a flower and contains seeds, though it is usually cooked and eaten like a vegetable."),
    ("Is the number 21 prime?", "No, 21 is not prime, because it equals 3 times 7."),
    ("Is 17 a prime number?", "Yes, 17 is prime. Its only divisors are 1 and 17."),
    ("What is the square root of 81?", "The square root of 81 is 9."),
    ("What is 10 percent of 250?", "10 percent of 250 is 25."),
    ("What is half of 3/4?", "Half of 3/4 is 3/8."),
    ("Which is larger, 0.5 or 0.45?", "0.5 is larger than 0.45, because 0.5 is the same as 0.50."),
    ("What comes next in the sequence 2, 4, 8, 16?", "The next number is 32, because each number doubles the one before it."),
]


def _math_pairs(rng: random.Random, n: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    kinds = ["add", "sub", "mul", "div", "pct", "km", "min"]
    i = 0
    while len(out) < n:
        kind = kinds[i % len(kinds)]
        i += 1
        if kind == "add":
            a, b = rng.randint(12, 480), rng.randint(12, 480)
            out.append((f"What is {a} + {b}?", f"{a} + {b} = {a + b}."))
        elif kind == "sub":
            a, b = sorted((rng.randint(20, 900), rng.randint(5, 400)), reverse=True)
            out.append((f"What is {a} minus {b}?", f"{a} minus {b} is {a - b}."))
        elif kind == "mul":
            a, b = rng.randint(3, 19), rng.randint(3, 25)
            out.append((f"Multiply {a} by {b}.", f"{a} times {b} equals {a * b}."))
        elif kind == "div":
            b, q = rng.randint(2, 12), rng.randint(3, 30)
            out.append((f"What is {b * q} divided by {b}?", f"{b * q} divided by {b} is {q}."))
        elif kind == "pct":
            p = rng.choice([10, 20, 25, 50, 5])
            base = rng.choice([40, 80, 120, 200, 360, 400, 640, 1000])
            val = base * p // 100
            out.append((f"What is {p}% of {base}?", f"{p}% of {base} is {val}."))
        elif kind == "km":
            km = rng.randint(2, 40)
            out.append((f"How many meters are in {km} kilometers?",
                        f"There are {km * 1000:,} meters in {km} kilometers, since each kilometer is 1,000 meters."))
        else:
            h = rng.randint(2, 12)
            out.append((f"How many minutes are in {h} hours?",
                        f"There are {h * 60} minutes in {h} hours, because each hour has 60 minutes."))
        # dedupe as we go
        seen = {}
        for q, a in out:
            seen.setdefault(q, a)
        out = list(seen.items())
    return out


def make_instructions(rng: random.Random) -> list[dict[str, str]]:
    pairs = list(INSTRUCTIONS_HANDWRITTEN) + _math_pairs(rng, 30)
    seen: set[str] = set()
    rows = []
    for q, a in pairs:
        if q in seen:
            continue
        seen.add(q)
        rows.append({"instruction": q, "response": a})
    rng.shuffle(rows)
    return rows


# --------------------------------------------------------------------------


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(rows)


def main() -> None:
    rng = random.Random(SEED)
    sentiment = make_sentiment(rng)
    for text, _ in sentiment:
        n = len(text.split())
        assert 5 <= n <= 30, (n, text)
    topics = make_topics(rng)
    instructions = make_instructions(rng)

    write_csv(HERE / "sentiment.csv", sentiment)
    write_csv(HERE / "topics.csv", topics)
    with (HERE / "instructions.jsonl").open("w", encoding="utf-8") as f:
        for row in instructions:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    from collections import Counter
    print("sentiment.csv", len(sentiment), dict(Counter(l for _, l in sentiment)))
    print("topics.csv", len(topics), dict(Counter(l for _, l in topics)))
    print("instructions.jsonl", len(instructions))


if __name__ == "__main__":
    main()
