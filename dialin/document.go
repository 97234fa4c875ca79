package dialin

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"time"
)

// notFoundDocument tells mod_xml_curl to fall back to the gateway's own
// dialplan files, quietly (an empty or broken answer would log errors).
const notFoundDocument = `<?xml version="1.0" encoding="UTF-8"?>
<document type="freeswitch/xml">
  <section name="result">
    <result status="not found"/>
  </section>
</document>
`

// action is one <action application=... data=...> of an extension.
type action struct {
	application, data string
}

// dialplan is a document of one context holding one extension whose one
// condition matches the call's destination.
type dialplan struct {
	description string
	context     string
	extension   string
	destination string
	actions     []action
}

// writeTo renders d. Every value goes through xml.EscapeText, which also
// escapes quotes, so it is safe inside the double-quoted attributes; what
// FreeSWITCH itself would interpret was removed before (fsSafe, the
// valid* checks).
func (d *dialplan) writeTo(buf *bytes.Buffer) {
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<document type="freeswitch/xml">` + "\n" + `  <section name="dialplan"`)
	attr(buf, "description", d.description)
	buf.WriteString(">\n    <context")
	attr(buf, "name", d.context)
	buf.WriteString(">\n      <extension")
	attr(buf, "name", d.extension)
	buf.WriteString(">\n        <condition")
	attr(buf, "field", "destination_number")
	attr(buf, "expression", destinationExpression(d.destination))
	buf.WriteString(">\n")
	for _, a := range d.actions {
		buf.WriteString("          <action")
		attr(buf, "application", a.application)
		if a.data != "" {
			attr(buf, "data", a.data)
		}
		buf.WriteString("/>\n")
	}
	buf.WriteString("        </condition>\n      </extension>\n    </context>\n  </section>\n</document>\n")
}

func attr(buf *bytes.Buffer, name, value string) {
	buf.WriteByte(' ')
	buf.WriteString(name)
	buf.WriteString(`="`)
	// A bytes.Buffer never fails to write.
	_ = xml.EscapeText(buf, []byte(value))
	buf.WriteByte('"')
}

// hangupOnFailure is play_and_get_digits' last argument: where the call
// goes when the caller entered nothing valid Tries times. The inline
// dialplan hangs up at once; without it the call would go on to the
// transfer with an empty PIN.
const hangupOnFailure = "'hangup:NORMAL_CLEARING inline'"

// pinCollection is the play_and_get_digits data: min max tries timeout
// terminators prompt invalid-prompt variable regexp digit-timeout
// on-failure. The regexp is anchored so "12*34" is not a PIN.
func pinCollection(cfg Config) string {
	timeout := strconv.FormatInt(cfg.DigitTimeout.Milliseconds(), 10)
	return strconv.Itoa(cfg.MinDigits) + " " + strconv.Itoa(cfg.MaxDigits) + " " + strconv.Itoa(cfg.Tries) + " " +
		timeout + " # " + cfg.PinPrompt + " " + cfg.InvalidPrompt + " " + pinVariable + ` ^\d+$ ` + timeout + " " + hangupOnFailure
}

// transferBack re-runs the dialplan lookup for the same destination, now
// with the PIN in the channel. scalelite transfers to ${pin} instead,
// which makes the PIN the destination number and runs the dialplan of
// whatever the caller typed; the destination here is the one checked.
func transferBack(cfg Config, destination string) action {
	return action{"transfer", destination + " XML " + cfg.Context}
}

// promptDocument greets a new call and collects its PIN.
func promptDocument(cfg Config, destination string) dialplan {
	actions := make([]action, 0, 7)
	actions = append(actions, action{"answer", ""})
	if cfg.MaxDuration > 0 {
		actions = append(actions, action{"sched_hangup", "+" + strconv.FormatInt(ceilSeconds(cfg.MaxDuration), 10) + " NORMAL_CLEARING"})
	}
	actions = append(actions,
		action{"sleep", "500"},
		action{"playback", cfg.WelcomePrompt},
		action{"sleep", "200"},
		action{"play_and_get_digits", pinCollection(cfg)},
		transferBack(cfg, destination),
	)
	return dialplan{
		description: "BBB dial-in: ask for the PIN",
		context:     cfg.Context,
		extension:   "bbb_dialin_prompt",
		destination: destination,
		actions:     actions,
	}
}

// repromptDocument asks again after a PIN that is no meeting, counting
// the wrong PINs in the channel.
func repromptDocument(cfg Config, destination string, failedPins int) dialplan {
	return dialplan{
		description: "BBB dial-in: PIN not found, ask again",
		context:     cfg.Context,
		extension:   "bbb_dialin_reprompt",
		destination: destination,
		actions: []action{
			{"set", failedPinsVariable + "=" + strconv.Itoa(failedPins)},
			{"playback", cfg.InvalidPrompt},
			{"sleep", "500"},
			{"play_and_get_digits", pinCollection(cfg)},
			transferBack(cfg, destination),
		},
	}
}

// hangupDocument ends a call that entered Tries wrong PINs.
func hangupDocument(cfg Config, destination string) dialplan {
	return dialplan{
		description: "BBB dial-in: too many wrong PINs",
		context:     cfg.Context,
		extension:   "bbb_dialin_hangup",
		destination: destination,
		actions: []action{
			{"playback", cfg.InvalidPrompt},
			{"hangup", "NORMAL_CLEARING"},
		},
	}
}

// bridgeDocument sends the call into the meeting's voice conference on
// its server: BBB's FreeSWITCH takes it in its public context (see
// examples/freeswitch/bbb-public-dialplan.xml).
func bridgeDocument(cfg Config, destination, pin string, m Meeting, c callerID) dialplan {
	return dialplan{
		description: "BBB dial-in: bridge to the server of the meeting",
		context:     cfg.Context,
		extension:   "bbb_dialin_bridge",
		destination: destination,
		actions: []action{
			{"set", "meeting_id=" + fsSafe(m.MeetingID, maxMeetingIDRunes)},
			{"set", "effective_caller_id_name=" + c.displayName(cfg.CallerIDVisible)},
			{"set", "effective_caller_id_number=" + c.displayNumber(cfg.CallerIDVisible)},
			{"bridge", "sofia/" + cfg.Profile + "/" + pin + "@" + m.Host},
		},
	}
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
