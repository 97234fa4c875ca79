// Drives a running bbb_balance with the npm client bigbluebutton-js@0.2.0,
// as a front-end would: create, join, getMeetingInfo, isMeetingRunning,
// getMeetings, end. Usage: node client.js <base-url> <secret>
// Prints one line per step and exits non-zero at the first wrong answer.
'use strict'

const http = require('http')
const bbb = require('bigbluebutton-js')

const [base, secret] = process.argv.slice(2)
const api = bbb.api(base + '/bigbluebutton', secret) // the library adds /api
const meetingID = 'npm-room-' + process.pid

function check(step, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${step}: ${JSON.stringify(detail)}`)
  if (!ok) process.exit(1)
}

// bigbluebutton-js gives join URLs for browsers; fetch one without
// following the redirect to see where the balancer sends the browser.
function head(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => { res.resume(); resolve(res) }).on('error', reject)
  })
}

async function main() {
  let r = await bbb.http(api.administration.create('npm room', meetingID, {
    attendeePW: 'ap', moderatorPW: 'mp', record: true, 'meta_bbb-origin': 'npm test',
  }))
  check('create', r.returncode === 'SUCCESS' && r.meetingID === meetingID, r)

  const joinURL = api.administration.join('Ada Lovelace', meetingID, undefined, { role: 'MODERATOR', userID: 'ada' })
  const res = await head(joinURL)
  check('join redirect', res.statusCode === 302 && /\/join\?/.test(res.headers.location), { status: res.statusCode, location: res.headers.location })
  const landed = await head(res.headers.location)
  check('join at the server', landed.statusCode === 302 && /html5client/.test(landed.headers.location), { status: landed.statusCode })

  r = await bbb.http(api.monitoring.getMeetingInfo(meetingID))
  check('getMeetingInfo', r.returncode === 'SUCCESS' && Number(r.participantCount) === 1, { returncode: r.returncode, participantCount: r.participantCount })

  r = await bbb.http(api.monitoring.isMeetingRunning(meetingID))
  check('isMeetingRunning', r.returncode === 'SUCCESS' && String(r.running) === 'true', r)

  r = await bbb.http(api.monitoring.getMeetings())
  const ids = (r.meetings || []).map((m) => m.meetingID)
  check('getMeetings', r.returncode === 'SUCCESS' && ids.includes(meetingID), { returncode: r.returncode, meetings: ids })

  r = await bbb.http(api.administration.end(meetingID, 'mp'))
  check('end', r.returncode === 'SUCCESS' && r.messageKey === 'sentEndMeetingRequest', r)

  r = await bbb.http(api.monitoring.getMeetingInfo(meetingID))
  check('getMeetingInfo after end', r.returncode === 'FAILED' && r.messageKey === 'notFound', r)

  // A wrong secret is refused.
  const wrong = bbb.api(base + '/bigbluebutton', secret + 'x')
  r = await bbb.http(wrong.monitoring.getMeetings())
  check('wrong secret', r.returncode === 'FAILED' && r.messageKey === 'checksumError', r)
}

main().catch((e) => { console.log('FAIL ' + e.stack); process.exit(1) })
