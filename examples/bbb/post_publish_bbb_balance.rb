#!/usr/bin/ruby
# frozen_string_literal: true

# bbb_balance recording transfer: BBB's post_publish hook. Install in
# /usr/local/bigbluebutton/core/scripts/post_publish/. BBB runs it after each
# format is published, as `post_publish_bbb_balance.rb -m <recordID> [-f <format>]`;
# bbb-balance-send ships every format published so far, so the format is
# not needed.

require "optparse"

record_id = nil
OptionParser.new do |opts|
  opts.on("-m", "--meeting-id MEETING_ID") { |v| record_id = v }
  opts.on("-f", "--format FORMAT") { |_v| }
end.parse!

abort("post_publish_bbb_balance: missing -m <recordID>") if record_id.nil? || record_id.empty?

exec(ENV.fetch("BBB_BALANCE_SEND", "/usr/local/bin/bbb-balance-send"), record_id)
