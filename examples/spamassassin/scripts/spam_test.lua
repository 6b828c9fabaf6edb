-- Tests of spam.lua and filing.lua: run with `sluice test
-- examples/spamassassin`. spamd is not needed: t.filter answers for the
-- "spamassassin" filter of ../sluice.toml. t.run without script runs the
-- pipeline of ../sluice.toml (spam, then filing).

local function spamd(t, verdict, score, symbols)
  t.filter("spamassassin", {verdict = verdict, score = score, threshold = 5, symbols = symbols})
end

test("clear spam is refused before the 250", function(t)
  spamd(t, "spam", 1000, {"GTUBE"})
  local r = t.run({message = "testdata/offer.eml"})
  t.eq(r.verdict, "reject")
  t.eq(r.code, 550)
  t.eq(r.text, "message looks like spam (score 1000.0)")
  t.eq(#r.stages, 1)
end)

test("likely spam is scored and filed into Junk", function(t)
  spamd(t, "spam", 7.4, {"URIBL_BLACK", "BAYES_99"})
  local r = t.run({message = "testdata/offer.eml", rcpt = "bob@example.com"})
  t.eq(r.verdict, "accept")
  t.eq(r.score, 7.4)
  t.eq(r.symbols[1].name, "SPAMASSASSIN")
  t.eq(r.symbols[1].why, "BAYES_99,URIBL_BLACK")
  t.contains(r.headers.added, {"X-Spam-Score", "7.4 / 5.0"})
  t.contains(r.headers.added, {"X-Spam-Flag", "YES"})
  t.contains(r.actions, {kind = "fileinto", folder = "Junk", stage = "filing"})
end)

test("ham gets its score and stays in the INBOX", function(t)
  spamd(t, "ham", 1.2, {})
  local r = t.run({message = "testdata/letter.eml"})
  t.eq(r.verdict, "accept")
  t.eq(r.headers.added, {{"X-Spam-Score", "1.2 / 5.0"}})
  t.eq(r.actions, {})
end)

test("spamd down: never ham, the message is retried", function(t)
  t.filter("spamassassin", {verdict = "error", error = "spamc: 0/0"})
  local r = t.run({message = "testdata/letter.eml"})
  t.eq(r.verdict, "tempfail")
  t.eq(r.headers.added, {})
end)

test("filing alone files what spam.lua marked", function(t)
  local r = t.run({script = "filing.lua", message = "testdata/offer.eml", vars = {spam = true}})
  t.eq(r.actions[1].kind, "fileinto")
  t.eq(r.actions[1].folder, "Junk")
  r = t.run({script = "filing.lua", message = "testdata/letter.eml", vars = {spam = false}})
  t.eq(r.actions, {})
end)
