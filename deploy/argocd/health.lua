-- Argo CD health check for rustymail.io/RustyMail (Lua 5.1, Argo CD's dialect).
--
--   Suspended    spec.paused is true: the operator leaves the children alone.
--   Progressing  the status is for an older generation (or absent), a rollout
--                runs (Progressing=True), or the pods are not ready yet.
--   Degraded     Degraded=True for the current generation, with its message.
--   Healthy      Ready=True for the current generation.
--
-- Installed through argocd-cm (deploy/argocd/argocd-cm.yaml).
local hs = {}

local function find_condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == kind then
      return condition
    end
  end
  return nil
end

-- A condition speaks for the current spec when it was written for the
-- current generation (or carries no generation of its own).
local function current(condition, generation)
  if condition == nil then
    return false
  end
  if generation == nil or condition.observedGeneration == nil then
    return true
  end
  return condition.observedGeneration >= generation
end

local function describe(condition)
  local message = condition.message or ""
  if condition.reason ~= nil and condition.reason ~= "" then
    if message == "" then
      return condition.reason
    end
    return condition.reason .. ": " .. message
  end
  return message
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if obj.spec ~= nil and obj.spec.paused == true then
  hs.status = "Suspended"
  hs.message = "spec.paused is true: the operator leaves the children as they are"
  return hs
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report a status"
  return hs
end

if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to reconcile generation " .. tostring(generation)
    .. " (status is for generation " .. tostring(status.observedGeneration or "none") .. ")"
  return hs
end

local conditions = status.conditions
local degraded = find_condition(conditions, "Degraded")
if degraded ~= nil and degraded.status == "True" and current(degraded, generation) then
  hs.status = "Degraded"
  hs.message = describe(degraded)
  return hs
end

local progressing = find_condition(conditions, "Progressing")
if progressing ~= nil and progressing.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(progressing)
  return hs
end

local ready = find_condition(conditions, "Ready")
if ready ~= nil and ready.status == "True" and current(ready, generation) then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "waiting for the Ready condition"
end
return hs
