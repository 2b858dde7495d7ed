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
//! - `window`: sorted set of request starts (µs) in the rolling window.
//!
//! `left` never expires: the shared budget ends only when someone deletes it (`redis-cli del
//! 'budget:{ACCOUNT}:left'`). The transient keys (holds, window) expire after a day without
//! traffic. The first guard sets `left` to its budget; later guards join the budget they find
//! (and say so). A connection that breaks is re-opened for the next command; settling is tried
//! [`SETTLE_TRIES`] times. Counts above 2^53 are not supported here (Lua numbers are doubles).
//! This module prices nothing and does no HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, FromRedisValue, RedisError, Script, ScriptInvocation};

use super::state::{Hold, RateError, StateError, WINDOW};

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
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
-- Holds never settled count as spent: forget them, give nothing back.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
local left = tonumber(redis.call('GET', KEYS[1]))
if left < tonumber(ARGV[1]) then return {0, left} end
left = redis.call('DECRBY', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[2])
for i = 2, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return {1, left}
";

/// Gives back held − charged (negative for an overrun: the budget may go below zero). A hold
/// already gone (settled, or timed out and counted as spent) changes nothing, so settling twice is
/// harmless.
const SETTLE: &str = r"
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then
  redis.call('INCRBY', KEYS[1], tonumber(held) - tonumber(ARGV[2]))
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return redis.call('GET', KEYS[1])
";

/// Units not yet charged: what may still be reserved plus what calls in flight hold.
const UNSPENT: &str = r"
local left = redis.call('GET', KEYS[1])
if not left then return nil end
local sum = tonumber(left)
for _, units in ipairs(redis.call('HVALS', KEYS[2])) do sum = sum + tonumber(units) end
return string.format('%.0f', sum)
";

const SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {0, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {math.max(1, tonumber(oldest[2]) + window - now), now}
";

/// The keys of one account.
#[derive(Debug, Clone)]
struct Keys {
    left: String,
    holds: String,
    expiry: String,
    window: String,
}

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
            },
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
        if budget > MAX_BUDGET {
            return Err(StateError::Redis {
                reason: format!("a budget above {MAX_BUDGET} units cannot be shared in Redis"),
            });
        }
        let created: Option<String> = self
            .query(redis::cmd("SET").arg(&self.keys.left).arg(budget).arg("NX"))
            .await
            .map_err(|e| self.error(&e))?;
        let _: i64 = self
            .query(redis::cmd("PERSIST").arg(&self.keys.left))
            .await
            .map_err(|e| self.error(&e))?;
        let left = self.left().await?;
        Ok(match created {
            Some(_) => Joined::Created { left },
            None => Joined::Existing { left },
        })
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
        let id = self.id();
        let (ok, left): (i64, i64) = self
            .invoke(
                self.reserve
                    .key(&self.keys.left)
                    .key(&self.keys.holds)
                    .key(&self.keys.expiry)
                    .arg(units)
                    .arg(&id)
                    .arg(crate::count::millis(self.hold_ttl))
                    .arg(crate::count::millis(KEEP)),
            )
            .await
            .map_err(|e| self.error(&e))?;
        match ok {
            1 => Ok(Hold { id, units }),
            0 => Err(StateError::Exceeded {
                needed: units,
                left,
            }),
            _ => Err(self.gone()),
        }
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
                        .arg(&hold.id)
                        .arg(charged),
                )
                .await;
            match settled {
                Ok(_) => return Ok(()),
                Err(e) if tries >= SETTLE_TRIES => return Err(self.error(&e)),
                Err(_) => tokio::time::sleep(SETTLE_PAUSE).await,
            }
        }
    }

    /// Takes a slot in the window if there is one.
    pub async fn try_slot(&self, rps: u32) -> Result<Slot, RateError> {
        let (wait_us, now_us): (i64, i64) = self
            .invoke(
                self.slot
                    .key(&self.keys.window)
                    .arg(rps)
                    .arg(crate::count::micros(WINDOW))
                    .arg(self.id()),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::guard::state::{Backend, State};
    use crate::ledger::redis_server::RedisServer;

    async fn shared(server: &RedisServer, account: &str, budget: u64, rps: u32) -> State {
        let redis = RedisState::connect(&server.url(), account, Duration::from_secs(60))
            .await
            .expect("connect");
        redis.join(budget).await.expect("join");
        State::new(
            Backend::Redis(Box::new(redis)),
            rps,
            Duration::from_secs(5),
            1000,
        )
    }

    #[tokio::test]
    async fn reserve_settle_release_by_hand() {
        let server = RedisServer::start();
        let state = shared(&server, "acct1", 1000, 10).await;
        let a = state.try_reserve(600).await.expect("600 of 1000");
        // Unspent (the guard's hold in the ledger): 400 left + 600 in flight = 1,000.
        assert_eq!(state.unspent().await, Ok(1000));
        assert_eq!(
            state.try_reserve(500).await,
            Err(StateError::Exceeded {
                needed: 500,
                left: 400
            })
        );
        // 600 held, 250 charged: 350 come back → 750 left.
        state.settle(&a, 250).await.expect("settle");
        assert_eq!(state.left().await, Ok(750));
        // 1,000 − 250 charged = 750 unspent; reserving more does not change it.
        assert_eq!(state.unspent().await, Ok(750));
        let b = state.try_reserve(750).await.expect("all of it");
        assert_eq!(state.left().await, Ok(0));
        assert_eq!(state.unspent().await, Ok(750));
        state.release(&b).await.expect("release");
        assert_eq!(state.left().await, Ok(750));
    }

    #[tokio::test]
    async fn an_overrun_is_charged_and_shared() {
        // Invariant: as in memory, a call billed beyond its hold is charged in full and every
        // guard sharing the budget sees the overdraft.
        let server = RedisServer::start();
        let first = shared(&server, "acct7", 1000, 10).await;
        let second = shared(&server, "acct7", 1000, 10).await;
        let hold = first.try_reserve(100).await.expect("100 of 1000");
        // 5,000 records billed: 1000 − 5000 = −4,000.
        first.settle(&hold, 5000).await.expect("settle");
        assert_eq!(second.left().await, Ok(-4000));
        assert_eq!(
            second.try_reserve(1).await,
            Err(StateError::Exceeded {
                needed: 1,
                left: -4000
            })
        );
    }

    #[tokio::test]
    async fn second_guard_joins_the_budget() {
        let server = RedisServer::start();
        let first = RedisState::connect(&server.url(), "acct2", Duration::from_secs(60))
            .await
            .expect("connect");
        assert_eq!(first.join(500).await, Ok(Joined::Created { left: 500 }));
        let second = RedisState::connect(&server.url(), "acct2", Duration::from_secs(60))
            .await
            .expect("connect");
        // a different --budget does not reset the shared one.
        assert_eq!(second.join(9999).await, Ok(Joined::Existing { left: 500 }));
    }

    /// A plain command on a connection of the test's own.
    async fn command<T: FromRedisValue>(server: &RedisServer, args: &[&str]) -> T {
        let client = redis::Client::open(server.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut conn).await.expect("command")
    }

    #[tokio::test]
    async fn holds_never_settled_count_as_spent() {
        let server = RedisServer::start();
        let redis = RedisState::connect(&server.url(), "acct3", Duration::from_millis(50))
            .await
            .expect("connect");
        redis.join(100).await.expect("join");
        // 60 held by a call whose guard died (or could not settle): 40 left.
        let lost = redis.try_reserve(60).await.expect("hold 60");
        tokio::time::sleep(Duration::from_millis(80)).await;
        // past its 50 ms the hold is dropped on the next reservation, but its 60 units do not
        // come back (the API may have billed the call): 50 does not fit in 40.
        assert_eq!(
            redis.try_reserve(50).await,
            Err(StateError::Exceeded {
                needed: 50,
                left: 40
            })
        );
        // a late settle of the dropped hold changes nothing (neither back nor charged twice).
        redis.settle(&lost, 10).await.expect("late settle");
        assert_eq!(redis.left().await, Ok(40));
    }

    #[tokio::test]
    async fn settling_survives_a_dropped_connection() {
        let server = RedisServer::start();
        let redis = RedisState::connect(&server.url(), "acct5", Duration::from_secs(60))
            .await
            .expect("connect");
        redis.join(1000).await.expect("join");
        let hold = redis.try_reserve(300).await.expect("hold 300");
        // Redis drops every client connection (a restart, a failover, a proxy timeout).
        let killed: i64 = command(&server, &["CLIENT", "KILL", "TYPE", "normal"]).await;
        assert!(killed >= 1, "the guard's connection was killed");
        // the first try fails on the dead connection; the next, on a new one, settles:
        // 300 held, 120 charged → 1000 − 120 = 880 left.
        redis.settle(&hold, 120).await.expect("settled on retry");
        assert_eq!(redis.left().await, Ok(880));
    }

    #[tokio::test]
    async fn the_shared_budget_never_expires() {
        let server = RedisServer::start();
        let redis = RedisState::connect(&server.url(), "acct6", Duration::from_secs(60))
            .await
            .expect("connect");
        // a budget key left with an expiry (an older version set one): joining removes it.
        let _: () = command(&server, &["SET", redis.left_key(), "700", "PX", "5000"]).await;
        assert_eq!(redis.join(9999).await, Ok(Joined::Existing { left: 700 }));
        let hold = redis.try_reserve(100).await.expect("hold");
        let ttl: i64 = command(&server, &["PTTL", "budget:{acct6}:holds"]).await;
        assert!(ttl > 0, "the transient keys still expire: {ttl}");
        redis.settle(&hold, 100).await.expect("settle");
        // PTTL -1: the key exists and has no expiry.
        let ttl: i64 = command(&server, &["PTTL", redis.left_key()]).await;
        assert_eq!(ttl, -1);
    }

    #[tokio::test]
    async fn unreachable_redis_is_a_clear_error() {
        let url = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("redis://{}", l.local_addr().expect("addr"))
        };
        let e = RedisState::connect(&url, "x", Duration::from_secs(1))
            .await
            .err()
            .expect("refused");
        let text = e.to_string();
        assert!(
            text.contains("the shared state in Redis is unavailable"),
            "{text}"
        );
        assert!(text.contains("check --redis / BUDGET_REDIS_URL"), "{text}");
        let e = RedisState::connect("http://nope", "x", Duration::from_secs(1))
            .await
            .err()
            .expect("bad url");
        assert!(e.to_string().contains("the Redis URL is not valid"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_guards_never_exceed_budget_or_rate() {
        let server = RedisServer::start();
        // Two guards, 16 tasks each trying 3 calls of 7 units against 200 units: 28 calls fit
        // (196 units; 200 / 7 = 28 rem 4) of the 96 tried.
        let guards = [
            Arc::new(shared(&server, "acct4", 200, 20).await),
            Arc::new(shared(&server, "acct4", 200, 20).await),
        ];
        let mut tasks = Vec::new();
        for i in 0..32 {
            let state = guards[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                let mut spent = 0u64;
                let mut starts = Vec::new();
                for _ in 0..3 {
                    starts.push(state.slot().await.expect("slot"));
                    if let Ok(hold) = state.try_reserve(7).await {
                        state.settle(&hold, 7).await.expect("settle");
                        spent += 7;
                    }
                }
                (spent, starts)
            }));
        }
        let mut spent = 0;
        let mut starts = Vec::new();
        for t in tasks {
            let (s, mut st) = t.await.expect("task");
            spent += s;
            starts.append(&mut st);
        }
        assert_eq!(spent, 196);
        assert_eq!(guards[0].left().await, Ok(4));
        // 96 grants at 20 per window: never 21 within one window (on Redis's clock, which the
        // window is kept on).
        starts.sort();
        crate::guard::state::tests::assert_window(&starts, 20);
    }
}
