//! The guard's budget and request window in Redis, so several guards (on several machines) that
//! share one API key together never exceed the budget or the rate.
//!
//! Every change is one Lua script, which Redis runs atomically; time is Redis's own clock
//! (`TIME`), so machines with skewed clocks still share one window. Keys carry the account id (a
//! hash of the API key, never the key) in a hash tag, `budget:{ACCOUNT}:…`:
//! - `left`: units that may still be reserved (a signed integer);
//! - `holds`: hash of reservation id → units held by a call in flight;
//! - `hold-expiry`: sorted set of reservation id → time (ms) after which a hold that was never
//!   settled (its guard died, or could not reach Redis to settle) counts as spent in full: the
//!   call may have been billed, so its units never come back (fail closed);
//! - `window`: sorted set of request starts (µs) in the rolling window;
//! - `epoch`: the shared budget's id, which each guard writes in its journal's `budget` line;
//! - `total`: the budget's figure (raised by `budget guard-admin raise`, once for all guards);
//! - `approved`, `hold-approved`: the units of calls an operator approved (the allowance above
//!   `--soft-budget`), and which holds are of approved calls (docs/guard.md "Raise and approve").
//!
//! `left` and `epoch` never expire: the shared budget ends only when someone deletes it
//! (`redis-cli del 'budget:{ACCOUNT}:left'`) or a guard replaces it (`--new-budget`). The
//! transient keys (holds, window) expire after a day without traffic. Which guard may create
//! the shared budget is `super::startup`'s policy; this module only does it. A connection that breaks is re-opened for the next command; settling is tried
//! [`SETTLE_TRIES`] times. Counts above 2^53 are not supported here (Lua numbers are doubles).
//! This module prices nothing and does no HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, FromRedisValue, RedisError, Script, ScriptInvocation};

use super::state::{
    Ask, ClientBudget, Figures, Hold, Raise, Raised, RateError, Reserved, StateError,
};

/// Transient keys (holds, window) live this long after their last use; `left` never expires.
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// Connecting to Redis, and waiting for one answer, take at most this long.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts to settle a hold before leaving it to time out (and count as spent).
pub const SETTLE_TRIES: u32 = 3;
/// The pause before the second and third settle attempts.
const SETTLE_PAUSE: Duration = Duration::from_millis(100);
/// Largest budget the scripts handle exactly.
pub const MAX_BUDGET: u64 = 1 << 53;

const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0, 0, 0, 0} end
-- Holds never settled count as spent: forget them, give nothing back.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[9], id)
end
local units = tonumber(ARGV[1])
local left = tonumber(redis.call('GET', KEYS[1]))
local refused = 0
local shown = left
if left < units then refused = 1 end
local cleft = nil
local ctotal = 0
if ARGV[6] ~= '' then
  local c = redis.call('GET', KEYS[5])
  if c then
    cleft = tonumber(c)
    ctotal = tonumber(redis.call('GET', KEYS[6]) or c)
  end
end
if refused == 0 and cleft and cleft < units then
  refused = 2
  shown = cleft
end
-- The soft limit (--soft-budget): units used (the figure less what is left) with this call's,
-- against the limit plus the approved allowance; an approved call passes it.
if refused == 0 and ARGV[7] ~= '' and ARGV[8] ~= '1' then
  local total = redis.call('GET', KEYS[7])
  if total then
    total = tonumber(total)
  else
    total = left
    for _, u in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(u) end
  end
  local used = total - left
  local approved = tonumber(redis.call('GET', KEYS[8]) or '0')
  if used + units > tonumber(ARGV[7]) + approved then
    refused = 3
    shown = used
  end
end
if refused > 0 and ARGV[5] ~= '1' then return {0, shown, refused, 0, ctotal} end
if ARGV[8] == '1' then
  redis.call('INCRBY', KEYS[8], units)
  redis.call('HSET', KEYS[9], ARGV[2], '1')
  redis.call('PEXPIRE', KEYS[9], ARGV[4])
end
redis.call('DECRBY', KEYS[1], units)
local held = 0
if cleft then
  redis.call('DECRBY', KEYS[5], units)
  redis.call('HSET', KEYS[4], ARGV[2], ARGV[6])
  held = 1
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[2])
for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return {1, shown, refused, held, ctotal}
";

/// Gives back held − charged (negative for an overrun: the budget may go below zero). A hold
/// already gone (settled, or timed out and counted as spent) changes nothing, so settling twice is
/// harmless.
const SETTLE: &str = r"
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then
  local back = tonumber(held) - tonumber(ARGV[2])
  redis.call('INCRBY', KEYS[1], back)
  if ARGV[3] == '1' and redis.call('HGET', KEYS[4], ARGV[1]) then
    redis.call('INCRBY', KEYS[5], back)
  end
  -- An approved call's allowance is what it was charged, never more than approved.
  if redis.call('HGET', KEYS[7], ARGV[1]) then
    if back > 0 then redis.call('DECRBY', KEYS[6], back) end
    redis.call('HDEL', KEYS[7], ARGV[1])
  end
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
end
return redis.call('GET', KEYS[1])
";

/// The budget's figures: left, held by calls in flight, and the figure it was set at (an
/// older budget without one: left plus held).
const FIGURES: &str = r"
local left = redis.call('GET', KEYS[1])
if not left then return nil end
local held = 0
for _, units in ipairs(redis.call('HVALS', KEYS[2])) do held = held + tonumber(units) end
local total = redis.call('GET', KEYS[3])
if not total then total = tonumber(left) + held end
return {string.format('%.0f', tonumber(left)), string.format('%.0f', held), string.format('%.0f', tonumber(total))}
";

/// Each client's left, total and held: KEYS are holds, hold-client, then each client's left
/// and total; ARGV the clients' names.
const CLIENT_FIGURES: &str = r"
local held = {}
local owners = redis.call('HGETALL', KEYS[2])
for i = 1, #owners, 2 do
  local units = redis.call('HGET', KEYS[1], owners[i])
  if units then held[owners[i + 1]] = (held[owners[i + 1]] or 0) + tonumber(units) end
end
local out = {}
for i, name in ipairs(ARGV) do
  local left = redis.call('GET', KEYS[1 + 2 * i])
  local total = redis.call('GET', KEYS[2 + 2 * i])
  if left then
    table.insert(out, name)
    table.insert(out, string.format('%.0f', tonumber(left)))
    table.insert(out, string.format('%.0f', tonumber(total or left)))
    table.insert(out, string.format('%.0f', held[name] or 0))
  end
end
return out
";

/// Slots taken in the window now.
const WINDOW_USED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]), '+inf')
";

/// Sets a client's own budget unless set already (`ARGV[2]` = '1': replace it).
const JOIN_CLIENT: &str = r"
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
  redis.call('SET', KEYS[2], redis.call('GET', KEYS[1]), 'NX')
end
return tonumber(redis.call('GET', KEYS[1]))
";

/// Units not yet charged: what may still be reserved plus what calls in flight hold.
const UNSPENT: &str = r"
local left = redis.call('GET', KEYS[1])
if not left then return nil end
local sum = tonumber(left)
for _, units in ipairs(redis.call('HVALS', KEYS[2])) do sum = sum + tonumber(units) end
return string.format('%.0f', sum)
";

/// Takes a slot if the window has room: recorded `ARGV[4]` µs after now (the slack the caller
/// has to send, see `super::state`).
const SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil((window + tonumber(ARGV[4])) / 1000) + 1000)
  return {0, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {math.max(1, tonumber(oldest[2]) + window - now), now}
";

/// The keys of one account.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
    left: String,
    holds: String,
    expiry: String,
    window: String,
    epoch: String,
    /// The budget's figure as set (for the status endpoint and alerts).
    total: String,
    /// Hash of reservation id → the client whose own budget holds it too.
    hold_client: String,
    /// Units of approved calls: the allowance above the soft limit (`--soft-budget`).
    approved: String,
    /// Hash of reservation id → 1 for a call an operator approved.
    hold_approved: String,
}

impl Keys {
    /// A client's own keys (`--clients`; names are plain: letters, digits, `-`, `_`, `.`).
    fn client(&self, name: &str, what: &str) -> String {
        format!("{}:client:{name}:{what}", self.prefix)
    }
}

/// Sets the budget and its epoch unless set already; returns whether it did, the units left and
/// the epoch. The budget never expires (an expiry set by an older version is removed).
const JOIN: &str = r"
local created = 0
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  created = 1
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('SET', KEYS[3], ARGV[1])
end
redis.call('PERSIST', KEYS[1])
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[2], epoch)
end
return {created, tonumber(redis.call('GET', KEYS[1])), epoch}
";

/// Replaces the shared budget: a new figure and epoch, and no holds (a late settle of a call of
/// the old budget gives nothing back to the new one).
const REPLACE: &str = r"
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[5], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[8])
return 1
";

/// Raises the budget: `left` and the figure grow by the same units. `ARGV[1]` is `by` or `to`;
/// returns {1, before, after}, {0, before, 0} for a `to` below the figure, {-2, before, by} past
/// the largest budget, {-1, 0, 0} without a budget.
const RAISE: &str = r"
local left = redis.call('GET', KEYS[1])
if not left then return {-1, 0, 0} end
local total = redis.call('GET', KEYS[3])
if total then
  total = tonumber(total)
else
  total = tonumber(left)
  for _, u in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(u) end
end
local by = tonumber(ARGV[2])
if ARGV[1] == 'to' then
  if by < total then return {0, total, 0} end
  by = by - total
end
if total + by > tonumber(ARGV[3]) then return {-2, total, by} end
redis.call('INCRBY', KEYS[1], by)
redis.call('SET', KEYS[3], string.format('%.0f', total + by))
return {1, total, total + by}
";

/// How a guard found the shared budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// This guard set it.
    Created { left: i64 },
    /// Another guard set it earlier; `left` is what remains of it.
    Existing { left: i64 },
}

/// A connection to the shared state of one account.
pub struct RedisState {
    client: redis::Client,
    /// Replaced by a fresh one when it breaks.
    conn: std::sync::Mutex<MultiplexedConnection>,
    keys: Keys,
    /// Where Redis is, for messages (no credentials).
    shown: String,
    /// Unique per guard process, for reservation ids and window entries.
    me: String,
    next: AtomicU64,
    hold_ttl: Duration,
    reserve: Script,
    settle: Script,
    slot: Script,
    /// The clients with budgets of their own (`--clients`), set by [`RedisState::join_clients`].
    clients: std::sync::Mutex<Vec<String>>,
}

/// A slot request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A slot was taken at this time of Redis's clock (µs since the epoch).
    Granted { at_us: u64 },
    /// The window is full for this long.
    Wait(Duration),
}

fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(REDIS_TIMEOUT)
        .set_response_timeout(REDIS_TIMEOUT)
}

/// Whether the connection is unusable after `e` (so the next command needs a new one).
fn broken(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

impl RedisState {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`) for `account` (see
    /// `crate::account::account_id`); `hold_ttl` is how long a hold may stay unsettled before it counts
    /// as spent (longer than any call can take: [`super::hold_ttl`]).
    pub async fn connect(url: &str, account: &str, hold_ttl: Duration) -> Result<Self, StateError> {
        let client = redis::Client::open(url).map_err(|_| StateError::Redis {
            reason: "the Redis URL is not valid; write it like redis://127.0.0.1:6379".into(),
        })?;
        let shown = client.get_connection_info().addr.to_string();
        let conn = client
            .get_multiplexed_async_connection_with_config(&connection_config())
            .await
            .map_err(|e| redis_error(&shown, &e))?;
        let prefix = format!("budget:{{{account}}}");
        Ok(RedisState {
            client,
            conn: std::sync::Mutex::new(conn),
            keys: Keys {
                left: format!("{prefix}:left"),
                holds: format!("{prefix}:holds"),
                expiry: format!("{prefix}:hold-expiry"),
                window: format!("{prefix}:window"),
                epoch: format!("{prefix}:epoch"),
                total: format!("{prefix}:total"),
                hold_client: format!("{prefix}:hold-client"),
                approved: format!("{prefix}:approved"),
                hold_approved: format!("{prefix}:hold-approved"),
                prefix,
            },
            clients: std::sync::Mutex::new(Vec::new()),
            shown,
            me: format!("{:016x}", rand::random::<u64>()),
            next: AtomicU64::new(0),
            hold_ttl,
            reserve: Script::new(RESERVE),
            settle: Script::new(SETTLE),
            slot: Script::new(SLOT),
        })
    }

    fn conn(&self) -> MultiplexedConnection {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Opens a new connection in place of a broken one (best effort: a failure shows on the
    /// next command).
    async fn reconnect(&self) {
        if let Ok(fresh) = self
            .client
            .get_multiplexed_async_connection_with_config(&connection_config())
            .await
        {
            *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, RedisError> {
        let result = invocation.invoke_async(&mut self.conn()).await;
        if let Err(e) = &result {
            if broken(e) {
                self.reconnect().await;
            }
        }
        result
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        let result = cmd.query_async(&mut self.conn()).await;
        if let Err(e) = &result {
            if broken(e) {
                self.reconnect().await;
            }
        }
        result
    }

    /// Sets the budget unless another guard already did. The budget key never expires (one
    /// left by an older version that set an expiry loses it here).
    pub async fn join(&self, budget: u64) -> Result<Joined, StateError> {
        Ok(self.join_epoch(budget, &super::journal::new_id()).await?.0)
    }

    /// As [`RedisState::join`], and the shared budget's epoch: `fresh` when this guard set the
    /// budget (or found one without an epoch, set by an older version).
    pub async fn join_epoch(
        &self,
        budget: u64,
        fresh: &str,
    ) -> Result<(Joined, String), StateError> {
        if budget > MAX_BUDGET {
            return Err(StateError::Redis {
                reason: format!("a budget above {MAX_BUDGET} units cannot be shared in Redis"),
            });
        }
        let (created, left, epoch): (i64, i64, String) = self
            .invoke(
                Script::new(JOIN)
                    .key(&self.keys.left)
                    .key(&self.keys.epoch)
                    .key(&self.keys.total)
                    .arg(budget)
                    .arg(fresh),
            )
            .await
            .map_err(|e| self.error(&e))?;
        let joined = match created {
            1 => Joined::Created { left },
            _ => Joined::Existing { left },
        };
        Ok((joined, epoch))
    }

    /// Units left of the shared budget, `None` when there is none (never set, deleted, or
    /// Redis lost its data).
    pub async fn peek(&self) -> Result<Option<i64>, StateError> {
        self.query(redis::cmd("GET").arg(&self.keys.left))
            .await
            .map_err(|e| self.error(&e))
    }

    /// Replaces the shared budget with `budget` units under `epoch` (`--new-budget`).
    pub async fn replace(&self, budget: u64, epoch: &str) -> Result<(), StateError> {
        if budget > MAX_BUDGET {
            return Err(StateError::Redis {
                reason: format!("a budget above {MAX_BUDGET} units cannot be shared in Redis"),
            });
        }
        let _: i64 = self
            .invoke(
                Script::new(REPLACE)
                    .key(&self.keys.left)
                    .key(&self.keys.epoch)
                    .key(&self.keys.holds)
                    .key(&self.keys.expiry)
                    .key(&self.keys.total)
                    .key(&self.keys.hold_client)
                    .key(&self.keys.approved)
                    .key(&self.keys.hold_approved)
                    .arg(budget)
                    .arg(epoch),
            )
            .await
            .map_err(|e| self.error(&e))?;
        Ok(())
    }

    /// Where Redis is (`host:port`), for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The key holding the units left, for people who want to reset it.
    pub fn left_key(&self) -> &str {
        &self.keys.left
    }

    fn error(&self, e: &RedisError) -> StateError {
        redis_error(&self.shown, e)
    }

    fn id(&self) -> String {
        format!("{}:{}", self.me, self.next.fetch_add(1, Ordering::Relaxed))
    }

    pub async fn left(&self) -> Result<i64, StateError> {
        let left: Option<i64> = self
            .query(redis::cmd("GET").arg(&self.keys.left))
            .await
            .map_err(|e| self.error(&e))?;
        left.ok_or_else(|| self.gone())
    }

    /// Units of the shared budget not charged yet (left plus the holds of calls in flight),
    /// for the guards' hold in the reservation ledger (`super::hold`).
    pub async fn unspent(&self) -> Result<i64, StateError> {
        let unspent: Option<String> = self
            .invoke(
                Script::new(UNSPENT)
                    .key(&self.keys.left)
                    .key(&self.keys.holds),
            )
            .await
            .map_err(|e| self.error(&e))?;
        unspent
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| self.gone())
    }

    fn gone(&self) -> StateError {
        StateError::Redis {
            reason: format!(
                "the shared budget {} is gone (deleted); restart the guards",
                self.keys.left
            ),
        }
    }

    pub async fn try_reserve(&self, units: u64) -> Result<Hold, StateError> {
        self.reserve(Ask::units(units)).await.map(|r| r.hold)
    }

    /// Reserves from the shared budget and the client's (see `super::state::Ask`).
    pub async fn reserve(&self, ask: Ask<'_>) -> Result<Reserved, StateError> {
        let id = self.id();
        let client = ask.client.unwrap_or("");
        let (client_left, client_total) = match ask.client {
            Some(name) => (
                self.keys.client(name, "left"),
                self.keys.client(name, "total"),
            ),
            // Unused by the script; any key of this account's slot.
            None => (self.keys.left.clone(), self.keys.left.clone()),
        };
        let (ok, left, refused, held, budget): (i64, i64, i64, i64, i64) = self
            .invoke(
                self.reserve
                    .key(&self.keys.left)
                    .key(&self.keys.holds)
                    .key(&self.keys.expiry)
                    .key(&self.keys.hold_client)
                    .key(&client_left)
                    .key(&client_total)
                    .key(&self.keys.total)
                    .key(&self.keys.approved)
                    .key(&self.keys.hold_approved)
                    .arg(ask.units)
                    .arg(&id)
                    .arg(crate::count::millis(self.hold_ttl))
                    .arg(crate::count::millis(KEEP))
                    .arg(if ask.shadow { "1" } else { "0" })
                    .arg(client)
                    .arg(ask.soft.map(|s| s.to_string()).unwrap_or_default())
                    .arg(if ask.approved { "1" } else { "0" }),
            )
            .await
            .map_err(|e| self.error(&e))?;
        let refusal = match refused {
            1 => Some(StateError::Exceeded {
                needed: ask.units,
                left,
            }),
            2 => Some(StateError::ClientExceeded {
                client: client.to_string(),
                needed: ask.units,
                left,
                budget: u64::try_from(budget).unwrap_or(0),
            }),
            3 => Some(StateError::SoftLimit {
                needed: ask.units,
                used: left,
                limit: ask.soft.unwrap_or(0),
            }),
            _ => None,
        };
        match ok {
            1 => Ok(Reserved {
                hold: Hold {
                    id,
                    units: ask.units,
                    client: (held == 1).then(|| client.to_string()),
                },
                would_refuse: refusal,
            }),
            0 => Err(refusal.unwrap_or(StateError::Exceeded {
                needed: ask.units,
                left,
            })),
            _ => Err(self.gone()),
        }
    }

    /// Sets the clients' own budgets unless set already (`replace`: set them anew, with
    /// `--new-budget`), and remembers their names for [`RedisState::client_figures`].
    pub async fn join_clients(
        &self,
        clients: &[ClientBudget],
        replace: bool,
    ) -> Result<(), StateError> {
        for c in clients {
            if c.budget > MAX_BUDGET {
                return Err(StateError::Redis {
                    reason: format!("a budget above {MAX_BUDGET} units cannot be shared in Redis"),
                });
            }
            let _: i64 = self
                .invoke(
                    Script::new(JOIN_CLIENT)
                        .key(self.keys.client(&c.name, "left"))
                        .key(self.keys.client(&c.name, "total"))
                        .arg(c.budget)
                        .arg(if replace { "1" } else { "0" }),
                )
                .await
                .map_err(|e| self.error(&e))?;
        }
        *self.clients.lock().unwrap_or_else(|p| p.into_inner()) =
            clients.iter().map(|c| c.name.clone()).collect();
        Ok(())
    }

    /// Raises the shared budget once for every guard sharing it (see `super::state::Raise`).
    pub async fn raise(&self, raise: Raise) -> Result<Raised, StateError> {
        let (how, units) = match raise {
            Raise::By(by) => ("by", by),
            Raise::To(to) => ("to", to),
        };
        let max = super::state::MAX_RAISED;
        if units > max {
            return Err(StateError::RaiseTooLarge {
                total: 0,
                by: units,
                max,
            });
        }
        let (done, before, after): (i64, i64, i64) = self
            .invoke(
                Script::new(RAISE)
                    .key(&self.keys.left)
                    .key(&self.keys.holds)
                    .key(&self.keys.total)
                    .arg(how)
                    .arg(units)
                    .arg(max),
            )
            .await
            .map_err(|e| self.error(&e))?;
        let before = u64::try_from(before).unwrap_or(0);
        let after = u64::try_from(after).unwrap_or(0);
        match done {
            1 => Ok(Raised { before, after }),
            0 => Err(StateError::NotARaise {
                total: before,
                to: units,
            }),
            -2 => Err(StateError::RaiseTooLarge {
                total: before,
                by: after,
                max,
            }),
            _ => Err(self.gone()),
        }
    }

    /// Units of approved calls: the allowance above the soft limit, shared by every guard.
    pub async fn approved(&self) -> Result<u64, StateError> {
        let approved: Option<i64> = self
            .query(redis::cmd("GET").arg(&self.keys.approved))
            .await
            .map_err(|e| self.error(&e))?;
        Ok(u64::try_from(approved.unwrap_or(0)).unwrap_or(0))
    }

    /// The shared budget's figures (see `super::state::Figures`).
    pub async fn figures(&self) -> Result<Figures, StateError> {
        let figures: Option<(String, String, String)> = self
            .invoke(
                Script::new(FIGURES)
                    .key(&self.keys.left)
                    .key(&self.keys.holds)
                    .key(&self.keys.total),
            )
            .await
            .map_err(|e| self.error(&e))?;
        let (left, held, total) = figures.ok_or_else(|| self.gone())?;
        Ok(Figures {
            total: total.parse().unwrap_or(0),
            left: left.parse().unwrap_or(0),
            reserved: held.parse().unwrap_or(0),
        })
    }

    /// The clients' own budgets' figures, shared by every guard.
    pub async fn client_figures(&self) -> Result<Vec<(String, Figures)>, StateError> {
        let names = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let script = Script::new(CLIENT_FIGURES);
        let mut invocation = script.key(&self.keys.holds);
        invocation.key(&self.keys.hold_client);
        for name in &names {
            invocation.key(self.keys.client(name, "left"));
            invocation.key(self.keys.client(name, "total"));
            invocation.arg(name);
        }
        let flat: Vec<String> = self.invoke(&invocation).await.map_err(|e| self.error(&e))?;
        Ok(flat
            .chunks(4)
            .filter_map(|c| match c {
                [name, left, total, held] => Some((
                    name.clone(),
                    Figures {
                        total: total.parse().unwrap_or(0),
                        left: left.parse().unwrap_or(0),
                        reserved: held.parse().unwrap_or(0),
                    },
                )),
                _ => None,
            })
            .collect())
    }

    fn alert_key(&self, epoch: &str, percent: u8) -> String {
        format!("{}:alert:{epoch}:{percent}", self.keys.prefix)
    }

    /// Claims the alert at `percent` of the budget `epoch`: true for exactly one caller.
    pub async fn claim_alert(&self, epoch: &str, percent: u8) -> Result<bool, StateError> {
        let set: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(self.alert_key(epoch, percent))
                    .arg(&self.me)
                    .arg("NX"),
            )
            .await
            .map_err(|e| self.error(&e))?;
        Ok(set.is_some())
    }

    /// The thresholds already claimed for `epoch`.
    pub async fn claimed_alerts(
        &self,
        epoch: &str,
        thresholds: &[u8],
    ) -> Result<Vec<u8>, StateError> {
        if thresholds.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for t in thresholds {
            cmd.arg(self.alert_key(epoch, *t));
        }
        let found: Vec<Option<String>> = self.query(&cmd).await.map_err(|e| self.error(&e))?;
        Ok(thresholds
            .iter()
            .zip(found)
            .filter_map(|(t, f)| f.map(|_| *t))
            .collect())
    }

    /// Slots taken in the shared window now.
    pub async fn window_used(&self, window: Duration) -> Result<u64, StateError> {
        self.invoke(
            Script::new(WINDOW_USED)
                .key(&self.keys.window)
                .arg(crate::count::micros(window)),
        )
        .await
        .map_err(|e| self.error(&e))
    }

    /// Takes a slot in `client`'s share of the window (shared by every guard), if it has room.
    pub async fn try_client_slot(
        &self,
        client: &str,
        share: u32,
        window: Duration,
    ) -> Result<Slot, RateError> {
        self.slot_in(
            &self.keys.client(client, "window"),
            share,
            window,
            Duration::ZERO,
        )
        .await
    }

    /// Ends a hold with `charged` units billed (above the hold for an overrun), trying
    /// [`SETTLE_TRIES`] times (on a new
    /// connection after a broken one). When every try fails the hold stays and, once timed out,
    /// counts as spent in full.
    pub async fn settle(&self, hold: &Hold, charged: u64) -> Result<(), StateError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let settled: Result<Option<i64>, RedisError> = self
                .invoke(
                    self.settle
                        .key(&self.keys.left)
                        .key(&self.keys.holds)
                        .key(&self.keys.expiry)
                        .key(&self.keys.hold_client)
                        .key(match &hold.client {
                            Some(name) => self.keys.client(name, "left"),
                            None => self.keys.left.clone(),
                        })
                        .key(&self.keys.approved)
                        .key(&self.keys.hold_approved)
                        .arg(&hold.id)
                        .arg(charged)
                        .arg(if hold.client.is_some() { "1" } else { "0" }),
                )
                .await;
            match settled {
                Ok(_) => return Ok(()),
                Err(e) if tries >= SETTLE_TRIES => return Err(self.error(&e)),
                Err(_) => tokio::time::sleep(SETTLE_PAUSE).await,
            }
        }
    }

    /// Takes a slot in a window of `window` if there is one, recorded `slack` after now.
    pub async fn try_slot(
        &self,
        rps: u32,
        window: Duration,
        slack: Duration,
    ) -> Result<Slot, RateError> {
        self.slot_in(&self.keys.window, rps, window, slack).await
    }

    async fn slot_in(
        &self,
        key: &str,
        rps: u32,
        window: Duration,
        slack: Duration,
    ) -> Result<Slot, RateError> {
        let (wait_us, now_us): (i64, i64) = self
            .invoke(
                self.slot
                    .key(key)
                    .arg(rps)
                    .arg(crate::count::micros(window))
                    .arg(self.id())
                    .arg(crate::count::micros(slack)),
            )
            .await
            .map_err(|e| RateError::Redis {
                reason: redis_reason(&self.shown, &e),
            })?;
        Ok(if wait_us > 0 {
            Slot::Wait(Duration::from_micros(wait_us.unsigned_abs()))
        } else {
            Slot::Granted {
                at_us: u64::try_from(now_us).unwrap_or(0),
            }
        })
    }
}

/// What went wrong with Redis, for people.
fn redis_reason(shown: &str, e: &RedisError) -> String {
    format!(
        "{} (Redis at {shown}); check --redis / BUDGET_REDIS_URL and that Redis runs",
        crate::ledger::redis_failure(e)
    )
}

fn redis_error(shown: &str, e: &RedisError) -> StateError {
    StateError::Redis {
        reason: redis_reason(shown, e),
    }
}
