-- attachments: refuse executable attachments at SMTP time, so the sender
-- gets the error rather than a bounce.

local blocked = {
  exe = true, scr = true, com = true, bat = true, cmd = true, pif = true,
  cpl = true, msi = true, msp = true, dll = true, jar = true, lnk = true,
  hta = true, js = true, jse = true, vbs = true, vbe = true, wsf = true,
  wsh = true, ps1 = true, reg = true, iso = true, img = true,
}

-- The extension of a file name, lower-cased ("invoice.pdf.EXE" -> "exe").
local function extension(name)
  return (name:match("%.([%w]+)%s*$") or ""):lower()
end

function on_data(msg)
  msg.vars.stages = (msg.vars.stages or "") .. "attachments "
  for _, part in ipairs(msg:parts()) do
    local name = part.filename
    if name ~= "" and blocked[extension(name)] then
      log.info("executable attachment refused", {filename = name})
      return reject(550, "5.7.1", "executable attachments are not accepted (" .. name .. ")")
    end
  end
end
