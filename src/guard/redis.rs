//! The guard's budget and request window in Redis, so several guards (on several machines) that
//! share one API key together never exceed the budget or the rate.
//!
//! Every change is one Lua script, which Redis runs atomically; time is Redis's own clock
//! (`TIME`), so machines with skewed clocks still share one window. Keys carry the account id (a
//! hash of the API key, never the key) in a hash tag, `budget:{ACCOUNT}:…`:
//! - `left`: units that may still be reserved (a signed integer);
//! - `holds`: hash of reservation id → units held by a call in flight;
//! - `hold-expiry`: sorted set of reservation id → time (ms) after which a hold whose guard died
//!   is given back;
//! - `window`: sorted set of request starts (µs) in the rolling window.
//!
//! All keys expire after a day without traffic. The first guard sets `left` to its budget; later
//! guards join the budget they find (and say so). Counts above 2^53 are not supported here
//! (Lua numbers are doubles). This module prices nothing and does no HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};

use super::state::{Hold, RateError, StateError, WINDOW};

/// Keys live this long after their last use.
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// Largest budget the scripts handle exactly.
pub const MAX_BUDGET: u64 = 1 << 53;

const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, id in ipairs(expired) do
  local held = redis.call('HGET', KEYS[2], id)
  if held then redis.call('INCRBY', KEYS[1], held) end
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
local left = tonumber(redis.call('GET', KEYS[1]))
if left < tonumber(ARGV[1]) then return {0, left} end
left = redis.call('DECRBY', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[2])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return {1, left}
";

const SETTLE: &str = r"
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then
  redis.call('INCRBY', KEYS[1], held)
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return redis.call('DECRBY', KEYS[1], ARGV[2])
";

const SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
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
    conn: MultiplexedConnection,
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

impl RedisState {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`) for `account` (see
    /// `ledger::account_id`); `hold_ttl` is how long a hold may stay unsettled before it is given
    /// back (longer than any call can take).
    pub async fn connect(url: &str, account: &str, hold_ttl: Duration) -> Result<Self, StateError> {
        let client = redis::Client::open(url).map_err(|_| StateError::Redis {
            reason: "the Redis URL is not valid; write it like redis://127.0.0.1:6379".into(),
        })?;
        let shown = client.get_connection_info().addr.to_string();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(5));
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| redis_error(&shown, &e))?;
        let prefix = format!("budget:{{{account}}}");
        Ok(RedisState {
            conn,
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

    /// Sets the budget unless another guard already did.
    pub async fn join(&self, budget: u64) -> Result<Joined, StateError> {
        if budget > MAX_BUDGET {
            return Err(StateError::Redis {
                reason: format!("a budget above {MAX_BUDGET} units cannot be shared in Redis"),
            });
        }
        let mut conn = self.conn.clone();
        let created: Option<String> = redis::cmd("SET")
            .arg(&self.keys.left)
            .arg(budget)
            .arg("NX")
            .arg("PX")
            .arg(KEEP.as_millis() as u64)
            .query_async(&mut conn)
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

    fn error(&self, e: &redis::RedisError) -> StateError {
        redis_error(&self.shown, e)
    }

    fn id(&self) -> String {
        format!("{}:{}", self.me, self.next.fetch_add(1, Ordering::Relaxed))
    }

    pub async fn left(&self) -> Result<i64, StateError> {
        let mut conn = self.conn.clone();
        let left: Option<i64> = redis::cmd("GET")
            .arg(&self.keys.left)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.error(&e))?;
        left.ok_or_else(|| self.gone())
    }

    fn gone(&self) -> StateError {
        StateError::Redis {
            reason: format!(
                "the shared budget {} is gone (deleted or expired); restart the guards",
                self.keys.left
            ),
        }
    }

    pub async fn try_reserve(&self, units: u64) -> Result<Hold, StateError> {
        let id = self.id();
        let mut conn = self.conn.clone();
        let (ok, left): (i64, i64) = self
            .reserve
            .key(&self.keys.left)
            .key(&self.keys.holds)
            .key(&self.keys.expiry)
            .arg(units)
            .arg(&id)
            .arg(self.hold_ttl.as_millis() as u64)
            .arg(KEEP.as_millis() as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.error(&e))?;
        match ok {
            1 => Ok(Hold { id, units }),
            0 => Err(StateError::Exceeded {
                needed: units,
                left: u64::try_from(left).unwrap_or(0),
            }),
            _ => Err(self.gone()),
        }
    }

    pub async fn settle(&self, hold: &Hold, charged: u64) -> Result<(), StateError> {
        let mut conn = self.conn.clone();
        let _left: i64 = self
            .settle
            .key(&self.keys.left)
            .key(&self.keys.holds)
            .key(&self.keys.expiry)
            .arg(&hold.id)
            .arg(charged.min(hold.units))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.error(&e))?;
        Ok(())
    }

    /// `None`: a slot was taken; `Some(wait)`: the window is full for that long.
    pub async fn try_slot(&self, rps: u32) -> Result<Option<Duration>, RateError> {
        let mut conn = self.conn.clone();
        let wait_us: i64 = self
            .slot
            .key(&self.keys.window)
            .arg(rps)
            .arg(WINDOW.as_micros() as u64)
            .arg(self.id())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| RateError::Redis {
                reason: redis_reason(&self.shown, &e),
            })?;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us as u64)))
    }
}

fn redis_reason(shown: &str, e: &redis::RedisError) -> String {
    let what = if e.is_connection_refusal() {
        "connection refused".to_string()
    } else if e.is_timeout() {
        "no answer in time".to_string()
    } else {
        e.to_string()
    };
    format!("{what} (Redis at {shown}); check --redis / BUDGET_REDIS_URL and that Redis runs")
}

fn redis_error(shown: &str, e: &redis::RedisError) -> StateError {
    StateError::Redis {
        reason: redis_reason(shown, e),
    }
}

#[cfg(test)]
#[path = "../../tests/support/redis_server.rs"]
pub(crate) mod redis_server;

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::redis_server::RedisServer;
    use super::*;
    use crate::guard::state::{Backend, State};

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
        let b = state.try_reserve(750).await.expect("all of it");
        assert_eq!(state.left().await, Ok(0));
        state.release(&b).await.expect("release");
        assert_eq!(state.left().await, Ok(750));
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

    #[tokio::test]
    async fn holds_of_a_dead_guard_come_back() {
        let server = RedisServer::start();
        let redis = RedisState::connect(&server.url(), "acct3", Duration::from_millis(50))
            .await
            .expect("connect");
        redis.join(100).await.expect("join");
        let _lost = redis.try_reserve(100).await.expect("hold all");
        assert!(redis.try_reserve(1).await.is_err());
        tokio::time::sleep(Duration::from_millis(80)).await;
        // the 100 units held past their 50 ms come back on the next reservation.
        let hold = redis.try_reserve(100).await.expect("given back");
        assert_eq!(hold.units, 100);
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
                    state.slot().await.expect("slot");
                    starts.push(Instant::now());
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
        // 96 starts at 20 per window: never 21 within one window (local clock, same machine).
        starts.sort();
        crate::guard::state::tests::assert_window(&starts, 20);
    }
}
