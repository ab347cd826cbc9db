"""The household page as one self-contained HTML file: no external asset, no network.

The words come first (``story.summary``), then one card per set and per partition's files not
packed yet. The search box filters the cards by file name in the browser; the names are
embedded once, grouped by folder, each folder's names joined with ``/`` (which no file name
contains), so a large catalog stays a few bytes per file. A Content-Security-Policy forbids the
page any request, so it works the same offline and leaks nothing when opened.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from icefloe.household.story import (
    Check,
    Household,
    SetStory,
    Waiting,
    size_words,
    span,
    summary,
)

MARKS = {True: ("ok", "✓"), False: ("bad", "✗"), None: ("todo", "○")}

_STYLE = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f5f6f8}
main{max-width:64rem;margin:0 auto;padding:1rem}
h1{font-size:1.45rem;margin:.3rem 0 .6rem}
h2{font-size:1.1rem;margin:0 0 .4rem;overflow-wrap:anywhere}
h3{font-size:.95rem;margin:.7rem 0 .2rem;color:#445}
.summary p{margin:.35rem 0}
.summary .lead{font-size:1.15rem;font-weight:600}
.all-safe .lead{color:#14603a}.not-yet .lead{color:#8a4b00}
.find{margin:1rem 0}
.find label{display:block;font-weight:600;margin-bottom:.25rem}
.find input{width:100%;max-width:32rem;font-size:1rem;padding:.55rem .7rem;border:1px solid #99a;border-radius:.4rem}
#hits{min-height:1.4em;margin:.3rem 0;color:#445}
.cards{display:grid;grid-template-columns:minmax(0,1fr);gap:.8rem}
@media (min-width:56rem){.cards{grid-template-columns:repeat(2,minmax(0,1fr))}}
.card{background:#fff;border:1px solid #dde;border-left:.35rem solid #2e8b57;border-radius:.45rem;padding:.75rem .9rem;min-width:0}
.card.pending{border-left-color:#d08a00}.card.attention{border-left-color:#c0392b}
.state{font-size:.85rem;font-weight:600;white-space:nowrap}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15rem .8rem;margin:.2rem 0}
dt{color:#556}dd{margin:0;overflow-wrap:anywhere}
ul{margin:.15rem 0;padding:0;list-style:none}
li{overflow-wrap:anywhere}
ul.checks li{padding-left:1.4em;text-indent:-1.4em}
.disc>b{display:block;margin-top:.2rem}
.mark{display:inline-block;width:1.4em;text-indent:0;font-weight:700}
.ok .mark{color:#15803d}.bad .mark{color:#c0392b}.todo .mark{color:#8a8f99}
.bad{color:#8b1d12}
ul.matches{margin-top:.5rem;font-size:.85rem;font-family:ui-monospace,monospace}
ul.matches:empty{display:none}
footer{margin:1.5rem 0 .5rem;font-size:.85rem;color:#667}
[hidden]{display:none!important}
"""

# Plain JS, no library: filter the cards by a substring of a file's name (case-insensitive).
_SCRIPT = """
(function(){
var data=JSON.parse(document.getElementById('names').textContent);
var cards=document.querySelectorAll('.card'),q=document.getElementById('q'),hits=document.getElementById('hits');
var lower=null,SHOW=40,timer=0;
function index(){lower=[];for(var i=0;i<data.length;i++){var all=[];
for(var g=0;g<data[i].length;g++){var dir=data[i][g][0],names=data[i][g][1].split('/');
for(var k=0;k<names.length;k++){all.push(dir?dir+'/'+names[k]:names[k])}}lower.push(all)}}
function run(){var t=q.value.trim().toLowerCase(),files=0,sets=0;if(t&&!lower)index();
for(var i=0;i<cards.length;i++){var card=cards[i],list=card.querySelector('.matches');list.textContent='';
if(!t){card.hidden=false;continue}
var found=[];for(var k=0;k<lower[i].length;k++){if(lower[i][k].toLowerCase().indexOf(t)>=0)found.push(lower[i][k])}
card.hidden=!found.length;files+=found.length;if(found.length)sets++;
for(var m=0;m<Math.min(found.length,SHOW);m++){var li=document.createElement('li');li.textContent=found[m];list.appendChild(li)}
if(found.length>SHOW){var more=document.createElement('li');more.textContent='and '+(found.length-SHOW)+' more';list.appendChild(more)}}
hits.textContent=!t?'':files?files+(files==1?' file matches':' files match')+' in '+sets+(sets==1?' place':' places')+'.':'No file name contains \u201c'+q.value.trim()+'\u201d.'}
q.addEventListener('input',function(){clearTimeout(timer);timer=setTimeout(run,120)});
if(q.value)run();
})();
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

e = html.escape


def names_json(cards: Sequence[Sequence[str]]) -> str:
    """Each card's file names, grouped by folder: ``[[[folder, "a.jpg/b.jpg"], ...], ...]``."""
    data = []
    for names in cards:
        folders: dict[str, list[str]] = {}
        for name in names:
            folder, _, base = name.rpartition("/")
            folders.setdefault(folder, []).append(base)
        data.append([[folder, "/".join(bases)] for folder, bases in folders.items()])
    # "<" escaped, so no name can close the script element that holds the JSON.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _checks(checks: Sequence[Check]) -> str:
    items = []
    for check in checks:
        cls, mark = MARKS[check.ok]
        items.append(f'<li class="{cls}"><span class="mark">{mark}</span>{e(check.words)}</li>')
    return f'<ul class="checks">{"".join(items)}</ul>'


def _set_card(story: SetStory) -> str:
    cls = "attention" if story.attention else ("safe" if story.safe else "pending")
    state = {"attention": "✗ needs attention", "safe": "✓ safe", "pending": "○ on its way"}[cls]
    rows = [("Files from", span(story.first_ns, story.last_ns)),
            ("Files", f"{story.files:,} ({size_words(story.total_bytes)})"),
            ("Partition", story.partition)]
    if story.cleared_at:
        rows.append(("On the computer", f"no: cleared {story.cleared_at[:10]} once every copy was checked"))
    else:
        rows.append(("On the computer", "yes, until every copy below is checked"))
    discs = "".join(f'<li class="disc"><b>{e(d.label)}</b>{_checks(d.checks)}</li>' for d in story.discs)
    if story.discs_missing:
        discs += f'<li class="disc">{_checks([Check(None, f"{story.discs_missing} more disc(s) not made yet")])}</li>'
    if not discs:
        discs = _checks([Check(None if story.discs_expected else True,
                               "no discs made yet" if story.discs_expected else "no discs are made for this set")])
    else:
        discs = f"<ul>{discs}</ul>"
    return (f'<section class="card {cls}"><h2>{e(story.name)} <span class="state">{state}</span></h2>'
            f"{_rows(rows)}<h3>Discs</h3>{discs}<h3>Cloud copy</h3>{_checks(story.cloud)}"
            '<ul class="matches"></ul></section>')


def _waiting_card(wait: Waiting) -> str:
    checks = [Check(True, f"on the computer ({wait.partition})")]
    if wait.last_mirror is None:
        checks.append(Check(None, "no good mirror run yet: the nightly mirror copies them"))
    elif wait.mirrored == wait.files:
        checks.append(Check(True, f"on the mirror (last mirror run {wait.last_mirror})"))
    else:
        checks.append(Check(None, f"{wait.files - wait.mirrored:,} not on the mirror yet: the next "
                                  "nightly mirror copies them"))
    fill = f", now {wait.fill:.0%} full" if wait.fill is not None else ""
    checks.append(Check(None, f"not on discs or in the cloud yet: packed when {wait.partition} reaches "
                              f"{wait.threshold:.0%}{fill}"))
    rows = [("Files from", span(wait.first_ns, wait.last_ns)),
            ("Files", f"{wait.files:,} ({size_words(wait.total_bytes)})")]
    return (f'<section class="card pending"><h2>Not packed yet on {e(wait.partition)} '
            f'<span class="state">○ on its way</span></h2>{_rows(rows)}<h3>Copies</h3>{_checks(checks)}'
            '<ul class="matches"></ul></section>')


def _rows(rows: Sequence[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows) + "</dl>"


def render(house: Household) -> str:
    """The whole page, one string."""
    lead, *rest = summary(house)
    cards = [_waiting_card(w) for w in house.waiting] + [_set_card(s) for s in house.sets]
    names = [w.names for w in house.waiting] + [s.names for s in house.sets]
    more = "".join(f"<p>{e(line)}</p>" for line in rest)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>Our photos: are they safe?</title><style>{_STYLE}</style></head>
<body><main>
<h1>Our photos: are they safe?</h1>
<div class="summary {'all-safe' if house.all_safe else 'not-yet'}" id="summary"><p class="lead">{e(lead)}</p>{more}</div>
<div class="find"><label for="q">Find a file by name</label>
<input id="q" type="search" placeholder="e.g. IMG_2041 or 2019/beach" autocomplete="off" spellcheck="false">
<p id="hits" aria-live="polite"></p></div>
<div class="cards">
{chr(10).join(cards)}
</div>
<footer>Written {e(house.written_at)} by icefloe. Dates are the files' own dates (UTC). A disc's name is
the one on its printed label. This page holds no password, no checksum and no archive id.</footer>
</main>
<script type="application/json" id="names">{names_json(names)}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
