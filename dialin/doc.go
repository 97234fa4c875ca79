// Package dialin answers FreeSWITCH's mod_xml_curl dialplan lookups so
// that phone callers reach any meeting of the pool by its voice bridge
// (PIN): scalelite's /fsapi, without its bugs. It is plain net/http; the
// Caddy module mounts it.
//
// A call gateway (a FreeSWITCH of its own, holding the SIP trunk) asks for
// the dialplan of every call. The conversation is a loop over FreeSWITCH
// transfers, each one a new POST:
//
//  1. No PIN yet (no variable_pin): answer, optionally schedule the hang-up
//     after MaxDuration, play the welcome, collect the PIN into the channel
//     variable "pin" with play_and_get_digits (`^\d+$`, not scalelite's
//     broken `d+`), and transfer the call to the destination it dialled,
//     so the next lookup carries the PIN.
//  2. A PIN: the meeting with that voice bridge, else (a breakout room,
//     which BBB numbers as its parent's voice bridge plus one digit) the
//     meeting with the PIN minus its last digit. Found: the call is bridged
//     to sofia/<profile>/<pin>@<host of the meeting's server>, with the
//     caller's name and number masked.
//  3. Not found: the invalid-PIN prompt and another collection, counted in
//     the channel variable dialin_failed_pins; after Tries wrong PINs the
//     call is hung up. A caller who enters nothing Tries times is hung up
//     by play_and_get_digits itself.
//
// Everything from the request or the registry that reaches a document is
// first stripped of what FreeSWITCH would expand or split on (`$`, `{`,
// `}`, `\`, quotes, control characters) and then XML-escaped; PINs and
// destinations are checked against strict patterns and anything else is
// treated as unknown.
package dialin
