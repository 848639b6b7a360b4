"""Helps for writing routines: the format as a JSON Schema made from the model (so the two never
drift apart), and a commented starter routine that shows every feature and builds as it is."""

from __future__ import annotations

import json
from typing import Any

from .routine import Routine

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE = "routine.schema.json"
SCHEMA_COMMENT = f"# yaml-language-server: $schema={SCHEMA_FILE}"


def routine_schema() -> dict[str, Any]:
    """The routine format as written in files: {var}s, "20s" and the like, before templating."""
    generated = Routine.model_json_schema()
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "psoas-audio routine",
        "description": "A body-work routine that psoas-audio compiles into a voice-guided MP3.",
        **{key: value for key, value in generated.items() if key not in ("title", "description")},
    }


def schema_text() -> str:
    return json.dumps(routine_schema(), indent=2, ensure_ascii=False) + "\n"


STARTER = f"""\
{SCHEMA_COMMENT}
# A starter routine: every feature of the format, in a track of about five minutes.
# Build it:   psoas-audio build THIS.yaml        Check it:   psoas-audio check THIS.yaml
# See it:     psoas-audio plan THIS.yaml         Change a var:  --set hold=30s
# Fit it:     psoas-audio build THIS.yaml --length 6m   (the ranges below stretch to fit)

title: My first routine               # the track's title (required)
author: Your name                     # the MP3's artist
description: A short stretch, a long rest, and a chime.
album: My routines                    # default: the folder's name in a batch, else the title
genre: Health & Fitness
# cover: cover.jpg                    # a PNG or JPEG beside this file; without it one is drawn
voice:
  engine: auto                        # piper where the neural extra is installed, else pyttsx3
  rate: 140                           # words per minute of actual speech, for every engine
# language: en-gb                     # picks the engine's voice, and the cue words
pronounce: {{psoas: so-az}}             # respell words the voice gets wrong
breath: 1.2s                          # the pause between two spoken lines in a row
ambience: none                        # or rain, ocean, drone: a soft bed under the voice
# cue_words: {{halfway: Half done.}}    # what the halfway and countdown cues say
chime: bowl                           # the chime at the end: true (a bell), false, bell, bowl, tick
tick: true                            # a soft tick before words after a minute or more of quiet
vars:                                 # {{name}} below takes these values
  hold: 20s
  reps: 2
  rest: 2m..4m                        # a range: its shorter end, or what --length needs

steps:
  - say: Find a comfortable place to lie down. If anything hurts, ease off.
  - pause: 3s                         # plain silence, exactly this long

  - section: Both sides               # a chapter in the MP3
    steps:
      - sides: [left, right]          # these steps once per side, with {{side}} filled in
        steps:
          - say: Bring your {{side}} knee toward your chest, and hold it gently.
          - repeat: "{{reps}}"          # these steps {{reps}} times, with {{rep}} filled in
            steps:
              - say: Draw the knee in only as far as is comfortable, shoulders resting.
                then: Knee in, shoulders soft.  # said instead from the second time round
              - hold: "{{hold}}"          # speak the text, then exactly {{hold}} of silence
                say: Hold {{rep}} of {{reps}}. Let the psoas soften.
                countdown: 3          # three, two, one on the last three seconds
                halfway: true         # a soft "Halfway." at the midpoint
              - rest: 10s
                say: Release, and breathe.

  - chime: bell                       # a chime as a step of its own

  - section: Resting
    steps:
      - rest: "{{rest}}"
        say: Let the back of your body rest on the floor for {{rest}}.
        remind:                       # soft lines inside the rest, never in its last 10 s
          every: 40s
          say: [Let the breath slow down., Nothing to do but rest.]
                                      # after it, a soft tick before the next words (tick:)

  - say: Roll to one side, and come up slowly when you are ready.
"""
