"""Category cue lexicons, written from the labelling guide and UK school practice.

Each category has STRONG cues (count wherever the message is about an identifiable person),
WEAK cues (count only in a sentence that also refers to a person), and MASKS: phrases whose
cue words do not count ("Operation Encompass" is not a surgical operation; "St Anne's
Catholic Primary" is a faith school, not a belief). NEGATABLE cues are dropped when a
negation sits just before them ("nobody was hurt", "police were not involved").
Patterns are case-insensitive unless wrapped in (?-i:...).
"""
from __future__ import annotations

import re

from services.classifier.scanner import CueScanner

_P = r"(?:his|her|their|your|my|its)"
# Health charities and events: raising money for them says nothing about anyone's health.
CHARITIES = (r"cancer research(?: uk)?|macmillan(?: cancer support)?|marie curie|british heart foundation|"
             r"alzheimer'?s society|diabetes uk|asthma \+ lung uk|asthma uk|cystic fibrosis trust|epilepsy action|"
             r"st john ambulance|red cross|children in need|comic relief|red nose day|young minds|mind charity|"
             r"race for life|jeans for genes|wear it pink|stand up to cancer|great ormond street(?: hospital)?"
             r"(?: charity)?|children'?s hospice|air ambulance|hospice")
_KID = r"(?:him|her|them|himself|herself|themselves)"

STRONG: dict[str, list[str]] = {
    "health": [
        r"ill(?:ness|nesses)?", r"unwell", r"poorly", r"sick(?:ness)?(?! of)", r"vomit\w*", r"diarrh?o?ea",
        r"(?:high )?temperature", r"fever", r"headaches?", r"migraines?", r"(?:tummy|stomach|ear|tooth)ache",
        r"sore (?:throat|ear|eye)", r"rash", r"infection", r"(?:sickness|tummy|stomach|vomiting) bug",
        r"tonsillitis", r"chicken ?pox", r"measles", r"mumps", r"flu", r"covid(?:-19)?", r"conjunctivitis",
        r"impetigo", r"scarlet fever", r"norovirus", r"glandular fever", r"head lice", r"nits",
        r"asthma(?:tic)?", r"inhalers?", r"epilep\w*", r"seizures?", r"diabet\w*", r"insulin", r"blood sugar",
        r"hypo(?:glycaemia|s)?", r"allerg\w*", r"anaphyla\w*", r"epi-?pens?", r"auto-?injectors?",
        r"antihistamines?", r"piriton", r"cetirizine", r"eczema", r"coeliac", r"cystic fibrosis",
        r"sickle cell", r"cancer", r"leukaemia", r"chemo\w*", r"heart condition", r"cerebral palsy",
        r"spina bifida", r"hearing (?:aids?|impair\w*|loss)", r"deaf", r"visual(?:ly)? impair\w*", r"blind",
        r"wheelchair", r"crutches", r"(?:plaster )?cast on", r"broken (?:arm|leg|wrist|ankle|finger|toe|nose|"
        r"collarbone|bone)", r"fractur\w*", r"sprain\w*", r"concussion", r"head injury", r"injur\w*",
        rf"(?:bumped|banged|hit|hurt|cut|grazed|twisted|bruised) {_P} \w+", rf"hurt {_KID}", r"graze[ds]?",
        r"bruis\w*", r"nose ?bleed", r"first aid", r"plaster(?:ed|s)?", r"ice pack", r"stitches", r"a ?& ?e",
        r"hospital(?:s|ised|ized)?", r"ambulance", r"paramedics?", r"(?:medical|hospital|doctor'?s|dental|clinic|"
        r"orthodontist|optician|physio|gp) appointments?",
         r"(?:fracture|genetics?|eye|hospital|asthma|diabetes|allergy|audiology|sleep|cardiac|physio|"
        r"specialist|outpatients?) clinic", r"paediatrician", r"physio\w*",
        r"occupational therap\w*", r"operation(?! encompass)", r"surgery",
        r"recover(?:ing|ed|y) from", r"speedy recovery", r"on the mend", r"medication", r"medicines?", r"tablets",
         r"doses?", r"prescri\w*", r"calpol",
        r"paracetamol", r"ibuprofen", r"methylphenidate", r"concerta", r"ritalin", r"melatonin", r"midazolam",
        r"buccal", r"creon", r"antibiotics", r"panic attacks?", r"low mood", r"depress(?:ion|ed)",
        r"eating disorder", r"anorexia", r"bulimia", r"counsell(?:ing|or|ors)", r"camhs", r"mental health "
        r"(?:support|team|difficult\w*|needs|condition|worker|nurse|practitioner)", r"psychiatri\w*",
        r"clinical psycholog\w*", r"\bocd\b", r"ptsd", r"autis\w*", r"(?-i:ASD|ASC|ADHD|DCD)", r"dyspraxi\w*",
        r"tourette'?s?", r"global developmental delay", r"down'?s? syndrome", r"syndrome", r"diagnos\w*",
        r"disabilit\w*", r"disabled", r"pregnan\w*", r"antenatal", r"maternity", r"midwife", r"miscarriage",
        r"(?:individual )?health ?care plan", r"(?-i:IHP)", r"allergy plan", r"multiple sclerosis",
        r"(?-i:MS) diagnosis", r"medical (?:condition|needs|room|evidence|treatment)", r"grommets",
        r"had (?:a|her|their) baby", r"new baby", r"baby (?:boy|girl)", r"gave birth",
         r"expecting (?:a baby|twins)",
    ],
    "sen": [
        r"(?-i:SEND?)", r"special educational needs?", r"(?-i:EHCP?s?)", r"ehc (?:needs )?"
        r"(?:plan|assessment)", r"education,? health and care (?:plan|needs)", r"statutory assessment",
        r"support plan", r"one[- ]page profile", r"pupil passport", r"provision map", r"(?-i:IEP)",
        r"individual education plan", r"learning support", r"learning difficult\w*", r"learning disabilit\w*",
        r"dyslexi\w*", r"dyscalcul\w*", r"working memory", r"processing speed", r"phonological",
        r"nurture (?:group|room|provision|class)", r"interventions?", r"(?-i:ELSA)", r"emotional literacy",
        r"speech(?:,)? (?:and|&) language", r"spee?a?ch (?:and|&) lang\w*", r"(?-i:SALT)",
        r"speech therap\w*", r"language therap\w*", r"educational psycholog\w*", r"access arrangements?",
        r"(?<=% )extra time", r"extra time (?:in|for) (?:his|her|their|the|all)? ?(?:exams?|tests?|gcses?|sats)",
        r"top-?up funding", r"(?<=1:1 )(?:funding|ta|teaching assistant)",
         r"one[- ]to[- ]one (?:funding|ta|teaching assistant)", r"sensory (?:room|"
        r"breaks?|circuit|diet|needs|processing|profile)", r"ear defenders", r"visual timetable",
        r"now and next board", r"social stories", r"sen register", r"(?-i:SEN) support",
        r"speech (?:delay|difficult\w*|sound difficult\w*)", r"language (?:delay|disorder)",
    ],
    "safeguarding": [
        r"child protection", r"(?-i:CP) (?:plan|conference|register|meeting)", r"child in need",
        r"(?-i:CIN) (?:plan|meeting|review)", r"strategy (?:meeting|discussion)", r"core group",
        r"section 47", r"(?-i:s47)", r"(?-i:MASH)", r"multi-agency safeguarding hub",
        r"children'?s (?:social care|services)", r"social services", r"early help", r"disclos(?:ed|ure|ures)",
        r"abused?", r"domestic (?:abuse|violence|incident)", r"neglect\w*", r"exploit\w*",
        r"(?-i:CSE|CCE)", r"county lines", r"groom(?:ed|ing)", r"self[- ]harm\w*", rf"harm(?:ing)? {_KID}",
        r"suicid\w*", r"(?:must not|mustn't|is not allowed to|are not allowed to|will not be allowed to|"
        r"is not permitted to|should not|not to) (?:collect|pick up|contact|have contact|see|approach)",
        r"so that (?:he|she|they) (?:cannot|can't|can not|will not|won't) (?:collect|contact|pick up)",
        r"only (?:release|hand \w+ over)", r"non[- ]molestation", r"(?:court|protection|prohibited steps|"
        r"child arrangements|restraining) orders?", r"bail conditions", r"(?-i:Prevent) (?:referral|team|officer)",
        r"referral to (?-i:Prevent)", r"(?-i:Channel) (?:panel|programme)", r"harmful sexual behaviour",
        r"(?-i:HSB)", r"(?:sexual|sexually explicit|explicit|indecent|inappropriate) (?:video|images?|content|"
        r"nature|messages?|photos?|pictures?)", r"semi-nudes?", r"nudes", r"sexting", r"upskirting",
        r"(?-i:UKCIS)", r"(?-i:LADO)", r"no food in the house", r"same clothes", r"missing from (?:home|care)",
        r"(?-i:FGM)", r"female genital mutilation", r"forced marriage", r"radicalis\w*",
        r"operation encompass", r"sexual relationship", r"in (?:a )?sexual relationship",
        r"(?:women'?s |domestic abuse )?refuge",
    ],
    "criminal": [
        r"(?-i:PC|DC|DS|DI|Sgt|PCSO) (?-i:[A-Z][a-z]+)", r"police", r"detective", r"arrest\w*",
         r"(?:in|into|police) custody",
        r"prison", r"jail", r"(?-i:HMP)", r"sentenced", r"remanded", r"bail",
        r"(?:youth|police|formal) caution", r"cautioned",
        r"(?:youth|crown|magistrates'?|family) court", r"(?:in|to|at|before the) court\b", r"court (?:case|"
        r"hearing|date|appearance)", r"charged with", r"convict\w*", r"offen[cs]es?", r"offending",
        r"youth justice", r"(?-i:YOT)", r"youth offending", r"referral order", r"restraining order",
        r"crime (?:reference|number)", r"operation encompass", r"penalty notice", r"prosecut\w*",
        r"section 444", r"(?-i:s\.? ?444)", r"knife|knives|blade|weapons?|machete", r"cannabis|cocaine|"
        r"ketamine|(?-i:MDMA|THC)|controlled (?:drug|substance)|class [abc] drugs?", r"drugs", r"theft",
        r"stole|stolen", r"shoplift\w*", r"burglar\w*", r"robbery|robbed|mugged", r"assault\w*",
        r"criminal damage", r"hate crime", r"sextortion", r"accused of (?:taking|stealing|hitting)",
        r"indecent image", r"young offenders?(?: institution)?", r"(?-i:YOI)", r"stop and search",
    ],
    "ethnicity": [
        r"ethnic(?:ity|ities)?", r"racis[mt]\w*",
        r"racial(?:ly)?", r"skin colou?r", r"gypsy", r"(?-i:Roma)", r"roman[iy]", r"(?-i:Travellers?)",
        r"(?-i:GRT)", r"white[ –-]+(?:british|irish|other|european)", r"black[ –-]+(?:african|caribbean|"
        r"british|other)", r"asian[ –-]+(?:pakistani|indian|bangladeshi|chinese|british|other)",
        r"mixed[ –-]+white and \w+(?: \w+)?", r"mixed (?:race|heritage)", r"dual heritage",
        r"(?:racial|ethnic) minority",
    ],
    "religion": [
        r"fasting", r"fasts?\b(?= (?:for|during|until|on))", r"ramadan", r"(?-i:Eid)", r"diwali", r"deepavali",
        r"vaisakhi|baisakhi", r"hanukkah|chanukah", r"passover|pesach", r"rosh hashanah", r"yom kippur",
        r"sukkot", r"(?-i:Holi)", r"navratri", r"gurpurab", r"(?-i:Lent)", r"shabbat|sabbath",
        r"religio(?:n|us)(?! education)", r"(?:family'?s?|their|his|her|your|of) faith", r"faith (?:criteria|"
        r"group|community|reasons|grounds|leader)", r"(?:family'?s|religious|faith) beliefs?",
        r"practising (?:catholic|muslim|christian|jew|jewish|sikh|hindu|anglican|buddhist)s?",
         r"jehovah'?s witness\w*", r"baptis\w*", r"baptised|christening",
        r"first (?:holy )?communion", r"bar mitzvah|bat mitzvah", r"pray(?:s|ed|ing|ers?)?", r"jumu'?ah",
        r"salah|namaz", r"madrass?a", r"kosher", r"halal", r"hijab", r"head ?scarf", r"niqab", r"turban",
        r"patka", r"(?-i:kara)", r"kirpan", r"kippah|yarmulke", r"withdraw\w* from (?:(?-i:RE)|religious "
        r"education|collective worship|(?:the )?christmas|religious)", r"(?-i:Muslim|Catholic|"
        r"Jewish|Sikh|Hindu|Buddhist|Rastafarian|Mormon|Quaker)s?",
    ],
    "sexual_orientation": [
        r"gay", r"lesbian", r"bisexual", r"pansexual", r"asexual", r"(?-i:LGBT\w*)\+?", r"came out",
        r"coming out", r"questioning (?:his|her|their) sexuality", r"sexuality", r"sexual orientation",
        r"girlfriend", r"boyfriend", r"(?:sexual|intimate) relationship", r"sexually active", r"having sex",
        rf"explicit (?:image|photo|picture|video)s? of {_KID}", r"nudes?", r"semi-nudes?", r"sexting",
        r"sextortion", r"intimate (?:image|photo)s?", r"contracepti\w*", r"morning[- ]after pill",
        r"condoms?",
    ],
    "biometric": [
        r"fingerprints?", r"thumbprints?", r"finger ?scan\w*", r"face scan\w*", r"facial recognition",
        r"face recognition", r"palm (?:scan|vein|print)\w*", r"iris scan\w*", r"biometric\w*",
        rf"with {_P} finger",
    ],
    "genetic": [
        r"genetic\w*", r"genes?\b", r"gene variants?", r"(?-i:CFTR|BRCA\d?)", r"microarray", r"chromosom\w*",
        r"carrier (?:status|test\w*)", r"carries (?:two copies|one copy|a copy|the gene)", r"(?-i:DNA) test",
        r"(?<=[0-9] )(?:deletion|duplication)", r"micro(?:deletion|duplication)s?", r"exome", r"genome",
    ],
    "political": [
        r"(?:labour|conservative|tory|liberal democrats?|lib dems?|green party|reform(?: uk)?|(?-i:SNP)|"
        r"plaid cymru|(?-i:UKIP)|independent) (?:candidate|councillor|member|party|activist|campaign\w*)",
        r"standing (?:as an? (?:\w+ )?candidate|for (?:election|council|parliament|the \w+(?: \w+)? party)|"
        r"in the (?:\w+ )?elections?)", r"stood for (?:election|council)", r"party (?:membership|member)",
        r"political (?:party|activis\w*|views|opinions|beliefs|campaign\w*|leaflets?)", r"campaign leaflets?",
        r"politically active", r"activis[mt]\w*",
         r"(?:climate|anti-\w+|political|peaceful|student|school) (?:protest|strike|march|demonstration)s?",
        r"(?:attend|attending|join|joining|went to|go to) (?:a|the) (?:\w+ )?(?:protest|march|demonstration)",
        r"march(?:ing)? (?:against|in support)", r"extinction rebellion|just stop oil|palestine action",
        r"extremis[mt]\w*", r"radicalis\w*", r"far[- ](?:right|left)", r"neo-?nazi\w*", r"islamist",
        r"terroris[mt]\w*", r"(?-i:Prevent) (?:referral|team|officer|programme)", r"referral to (?-i:Prevent)",
        r"(?-i:Channel) (?:panel|programme)",
    ],
    "trade_union": [
        r"trade unions?", r"union (?:member\w*|rep\w*|official|activity|meeting|action|duties)",
        r"member of (?:the )?(?:(?-i:NEU|NASUWT|UNISON|GMB|Unite|NAHT|ASCL|EIS|UCU|Unison)|union)",
        r"(?-i:NEU|NASUWT|UNISON|Unison|GMB|NAHT|ASCL|UCU)", r"(?-i:Unite) (?:union|member)", r"strikes?",
        r"on strike", r"striking (?:staff|teachers|workers|members)",
        r"industrial action", r"picket\w*", r"walk-?out",
    ],
    "financial": [
        r"overdrawn", r"overdraft", r"(?:in )?arrears", r"debts?", r"(?:owe[sd]?|owing) (?:us |the school )?£",
        r"(?:amount|money|sum|balance) owed", 
        r"outstanding (?:balance|amount|debt|payment|fees?|sum)", r"unpaid", r"(?:payment|balance|invoice|fees?|"
        r"amount|bill)s? (?:is |are |was |now )*overdue", r"overdue (?:payment|balance|invoice|fees?|amount|bill)",
        r"negative balance", r"- ?£[0-9]", r"in debit", r"in the red",
        r"debt recovery", r"bailiffs?", r"free school meals?", r"(?-i:FSM)", r"pupil premium", r"(?-i:PP\+)",
        r"(?-i:PP) (?:funding|pupil|eligible|child)", r"holiday activities and food", r"(?-i:HAF)",
        r"bursar(?:y|ies)", r"hardship", r"(?:hardship|school|uniform|travel|bursary|council) grants?",
        r"(?:supermarket|food|holiday|fsm|hardship|uniform|school meals?|meal) vouchers?", r"payment plan",
         r"instal?ments", r"financial (?:difficult\w*|hardship|support|"
        r"assistance|help)", r"struggling (?:to pay|financially|with money)", r"universal credit",
        r"(?:on|receiv\w*|claim\w*) (?:benefits|universal credit|income support)", r"benefits? (?:check|"
        r"entitlement|claim)", r"eligibility (?:check\w*|service)", r"means[- ]tested", r"food bank (?:voucher|"
        r"referral|parcel)s?", r"low income", r"remission", r"subsidi[sz]ed", r"debt",
    ],
    "looked_after": [
        r"looked[- ]after (?:child|children|pupil|young person|review|status|children'?s)", r"(?-i:Looked After)",
        r"(?-i:LAC|CLA|CiC)", r"child(?:ren)? in care", r"(?:taken into|in (?:local authority )?|from|leaving) "
        r"care\b(?! (?:of|for|plan|homes?|workers?|staff|team))", r"foster (?:carers?|care|parents?|family|"
        r"families|placement|mum|mother|dad|father|home|brother|sister|siblings?)", r"fostered",
        r"(?:residential|foster|kinship|local authority) care", r"kinship (?:care|carers?|arrangement)",
        r"special guardian\w*", r"(?-i:SGO)", r"adopted (?:from care|by|when|at|as a)",
        r"adoption (?:order|support|panel|placement)", r"adoptive (?:parents?|mum|dad|family|mother|father)",
        r"(?:was|were|been|is) adopted", r"section 20", r"(?-i:s20|PEP)",
        r"personal education plan", r"virtual school", r"(?-i:IRO)", r"independent reviewing officer",
        r"care leaver", r"life[- ]story (?:work|book)", r"birth (?:mum|mother|dad|father|parents?|family|"
        r"siblings?|brother|sister)", r"children'?s home",
        r"corporate parent",
    ],
}

WEAK: dict[str, list[str]] = {
    "health": [r"school nurse", r"nurse", r"(?:gp|doctor|dentist|doctors)\b", r"mental health", r"anxi(?:ety|ous)",
               r"therapist", r"therapy", r"(?:very )?tired", r"not (?:been )?eating", r"young carers?",
               rf"{_KID} to be seen", r"care plan", r"sent home", r"condition", r"trauma\w*"],
    "sen": [r"senco", r"annual review", r"extra time", r"reader", r"scribe", r"word processor", r"rest breaks",
            r"(?<=1:1 )support", r"one[- ]to[- ]one support", r"calm (?:corner|space|room)", r"phonics group",
            r"support (?:worker|staff)"],
    "safeguarding": [r"(?-i:DSL)", r"designated safeguarding lead", r"safeguarding", r"welfare (?:concern|check)",
                     r"older (?:boy|man|men|male|girl|woman|women|teenagers?)", r"arriving (?:at school )?hungry",
                     r"(?:made|make|making|completed) an? referral", r"social worker", r"vulnerable"],
    "criminal": [r"(?:criminal|crime)", r"vandal\w*", r"(?-i:CCTV)"],
    "ethnicity": [r"heritage", r"nationality", r"first language"],
    "religion": [r"mosque", r"church", r"synagogue", r"gurdwara", r"temple", r"mandir", r"collective worship",
                 r"(?-i:Christmas|Easter) (?:service|celebrations?|activities)", r"no pork", r"beliefs?",
                 r"(?-i:Christian)s?"],
    "sexual_orientation": [r"(?-i:Rainbow|Pride) (?:group|club|room)", r"relationship", r"sexual"],
    "biometric": [r"enrol(?:l?ed|ment)?\b"],
    "genetic": [r"genetics"],
    "political": [r"elections?", r"candidate", r"campaign\w*", r"petition", r"protest\w*", r"march(?:ed|ing)"],
    "trade_union": [r"union"],
    "financial": [r"(?:struggling|difficulty|difficulties) (?:paying|with payments)", r"funding", r"eligible",
                  r"refund", r"vouchers?", r"grants?"],
    "looked_after": [r"placement", r"family time", r"contact (?:session|visit|arrangements)",
                     r"designated teacher"],
}

MASKS: dict[str, list[str]] = {
    "health": [CHARITIES, r"mental health week", r"healthy schools?", r"health and safety",
         r"(?-i:NHS) (?:number|website|111)",
               r"health services?", r"sickness policy", r"illness policy", r"(?:gp|doctor'?s|dental) surgery",
               r"surgery (?:name|address|details)", r"debt recovery",
                r"recover(?:ing|ed|y)? (?:the )?(?:cost|debt)"],
    "sen": [r"pastoral support plan"],
    "safeguarding": [r"(?:racist|racial|verbal|homophobic) abuse"],
    "religion": [r"(?:catholic|c of e|cofe|church of england|methodist|jewish|muslim|"
                 r"islamic|sikh|hindu|christian|faith|(?-i:RC)) (?:primary|school|academy|high|college|infants?|"
                 r"juniors?|secondary|trust|federation)", r"(?-i:St) (?-i:[A-Z][a-z]+)'?s? church",
                 r"church (?:school|hall|of england)", r"religious education", r"religious studies"],
    "sexual_orientation": [r"sex education", r"relationships? (?:and sex )?education", r"same-sex",
                           r"relationships? (?:with|between) (?:staff|friends|peers|adults)"],
    "criminal": [r"pcsos? (?:visit|talk|assembly)", r"police (?:visit|talk|assembly)", r"road safety",
                 r"no (?:crime|offence) (?:was|has been)", r"knife and fork", r"assault course"],
    "trade_union": [r"union jack", r"european union", r"students'? union", r"credit union", r"strike a "
                    r"(?:balance|chord|pose)", r"(?:climate|school|student) strikes?"],
    "ethnicity": [r"black history month", r"heritage (?:day|week|month|site|trail|centre|railway)"],
    "political": [r"school council", r"eco[- ]council", r"student council", r"house captain"],
    "looked_after": [r"take care", r"day care", r"wraparound care", r"after[- ]school care", r"care (?:of|for) "],
    "financial": [r"free school meals? (?:vouchers? will|for all)", r"universal (?:infant )?free school meals?"],
}

# Cues that count only right after a capitalised word: "Polish heritage", "Black Caribbean heritage".
AFTER_CAPITAL: dict[str, list[str]] = {"ethnicity": [r"heritage", r"origin", r"background"]}

NEGATABLE = frozenset({"health", "criminal"})
_NEGATION_HINTS = ("no", "n't", "never", "without")
_NEGATION = re.compile(r"\b(?:no|not|nobody|no-one|no one|never|without|isn't|wasn't|weren't|hasn't|haven't|"
                       r"didn't|don't|doesn't|none)\b[\w\s']{0,25}$", re.IGNORECASE)


# One scanner for all tables; a cue is reported as "strong:health", "weak:sen", "mask:religion"...
SCANNER = CueScanner({f"{kind}:{cat}": patterns for kind, table in (("strong", STRONG), ("weak", WEAK),
                                                                    ("mask", MASKS), ("capital", AFTER_CAPITAL))
                      for cat, patterns in table.items()})
_CAPITAL_BEFORE = re.compile(r"(?-i:[A-Z][a-z]+)(?:[ -](?-i:[A-Z][a-z]+))?[ -]$")


def capital_before(text: str, start: int) -> int | None:
    """Start of the capitalised word(s) just before `start` ("Black Caribbean " heritage), if any."""
    m = _CAPITAL_BEFORE.search(text, max(0, start - 40), start)
    return m.start() if m else None
CATEGORIES = tuple(STRONG)


def negated(text: str, start: int) -> bool:
    """A negation in the few words before `start`, within the same clause."""
    window = text[max(0, start - 40):start].lower()
    if not any(w in window for w in _NEGATION_HINTS):
        return False
    window = re.split(r"[.;,!?\n]", window)[-1]
    return bool(_NEGATION.search(window))
