//! The reservation ledger in Redis, for gates on several machines that spend from one account.
//!
//! Per account (the hash of the key, in a hash tag) three keys: `budget:{ACCOUNT}:reservations`
//! (id → the reservation as JSON), `…:reserved-units` (id → units) and `…:reservation-leases`
//! (id → lease end in ms, Redis's clock); the set `budget:ledger:accounts` lists the accounts for
//! `budget reservations`. A process id means nothing on another machine, so liveness is a lease:
//! while a reservation is held, a background thread renews it every [`LEASE`]/3; when the gate
//! dies its lease runs out and the next read drops it. A renewal that fails, or finds the
//! reservation gone (its lease ran out while Redis was unreachable), is reported through the
//! ledger's [`Warn`] callback, and a gone reservation is written again: its job still runs.
//!
//! A gate that is `kill -9`ed renews nothing: its reservation lapses at most [`LEASE`] later.
//! Its command does not outlive it by that long: it is killed with the gate (`crate::gate`,
//! `PR_SET_PDEATHSIG`). Readers on the holder's own machine (same [`super::process::host`])
//! do better than the lease: they drop a reservation whose holder and child are both gone
//! (pid and start time) at once, before the lease runs out.
//!
//! The units hash holds `UNITS` or, for holders of one shared budget, `UNITS SHARES` (see
//! [`Reservation::shares`]): the scripts count each shared budget once, at its largest hold.
//!
//! `reserve` is optimistic: one script drops expired leases and returns the reserved sum, the
//! caller decides with it, and a second script records the claim only if the sum is still the
//! same (else it tries again). Both run atomically in Redis. Counts above 2^53 are not supported
//! (Lua numbers are doubles). This module must not price, plan or print anything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::{Commands, Connection, Script};

use super::{Claim, Ledger, LedgerError, Reservation, Warn};

/// How long a reservation outlives its last renewal.
pub const LEASE: Duration = Duration::from_secs(30);
const ACCOUNTS: &str = "budget:ledger:accounts";
/// Attempts of the optimistic reserve before giving up (only under heavy contention).
const TRIES: usize = 50;

/// The start of every ledger script: drops expired leases, then sums the units still held.
/// KEYS: reservations, reserved units, leases.
macro_rules! live_sum {
    () => {
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, id in ipairs(gone) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
local sum = 0
local shared = {}
for _, held in ipairs(redis.call('HVALS', KEYS[2])) do
  local units, share = string.match(held, '^(%d+) ?(%S*)$')
  units = tonumber(units) or 0
  if share and share ~= '' then
    if (shared[share] or 0) < units then shared[share] = units end
  else
    sum = sum + units
  end
end
for _, units in pairs(shared) do sum = sum + units end
"
    };
}

const SUM: &str = concat!(live_sum!(), "return string.format('%.0f', sum)\n");

/// KEYS[4]: the accounts set. ARGV: expected sum, id, units, JSON, lease ms, account. The
/// reservation and its account's entry in the set are written together.
const ADD: &str = concat!(
    live_sum!(),
    r"if string.format('%.0f', sum) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[2])
redis.call('SADD', KEYS[4], ARGV[6])
return 1
"
);

/// KEYS: reservations, reserved units, leases, accounts. ARGV: id, lease ms, units (as stored),
/// JSON, account. Renews the lease and writes the reservation as given; a reservation that is
/// gone (or whose lease ran out) is written again. Returns 1 when it was still there, 0 when it
/// was written again.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = redis.call('ZSCORE', KEYS[3], ARGV[1])
local held = lease and tonumber(lease) > now and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
redis.call('SADD', KEYS[4], ARGV[5])
if held then return 1 else return 0 end
";

struct Keys {
    data: String,
    units: String,
    leases: String,
}

fn keys(account: &str) -> Keys {
    let prefix = format!("budget:{{{account}}}");
    Keys {
        data: format!("{prefix}:reservations"),
        units: format!("{prefix}:reserved-units"),
        leases: format!("{prefix}:reservation-leases"),
    }
}

/// A lease renewer: its stop flag, what it writes, and its thread.
struct Renewer {
    stop: Arc<AtomicBool>,
    stored: Arc<Mutex<Stored>>,
    thread: std::thread::JoinHandle<()>,
}

/// A reservation as stored: its JSON and its value in the units hash.
#[derive(Debug, Clone)]
struct Stored {
    json: String,
    units: String,
}

impl Stored {
    fn of(reservation: &Reservation, shown: &str) -> Result<Stored, LedgerError> {
        let json = serde_json::to_string(reservation).map_err(|e| LedgerError::Redis {
            at: shown.to_string(),
            reason: e.to_string(),
        })?;
        let units = match &reservation.shares {
            Some(shares) => format!("{} {}", reservation.units, shares.replace(' ', "_")),
            None => reservation.units.to_string(),
        };
        Ok(Stored { json, units })
    }
}

/// Reservations in Redis.
pub struct RedisLedger {
    client: redis::Client,
    conn: Mutex<Connection>,
    shown: String,
    lease: Duration,
    /// The lease renewers of the reservations this process holds.
    renewers: Mutex<HashMap<String, Renewer>>,
    warn: Warn,
    /// This machine ([`super::process::host`]): reservations written here are checked by pid.
    host: Option<String>,
}

impl RedisLedger {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`); renewal trouble is dropped.
    pub fn connect(url: &str) -> Result<RedisLedger, LedgerError> {
        Self::with_lease(url, LEASE, Arc::new(|_: &str| {}))
    }

    /// As [`RedisLedger::connect`], with another lease (tests), and `warn` told when a lease
    /// cannot be renewed or had run out.
    pub fn with_lease(url: &str, lease: Duration, warn: Warn) -> Result<RedisLedger, LedgerError> {
        let client = redis::Client::open(url).map_err(|_| LedgerError::Redis {
            at: "the given URL".into(),
            reason: "the Redis URL is not valid; write it like redis://127.0.0.1:6379".into(),
        })?;
        let shown = client.get_connection_info().addr.to_string();
        let conn = connect(&client, &shown)?;
        Ok(RedisLedger {
            client,
            conn: Mutex::new(conn),
            shown,
            lease,
            renewers: Mutex::new(HashMap::new()),
            warn,
            host: super::process::host(),
        })
    }

    fn error(&self, e: &redis::RedisError) -> LedgerError {
        redis_error(&self.shown, e)
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, LedgerError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|e| self.error(&e))
    }

    /// Drops the reservations of `account` written on this machine whose holder and child are
    /// both gone, without waiting for their leases to run out.
    fn drop_dead_here(&self, account: &str) -> Result<(), LedgerError> {
        let Some(here) = self.host.as_deref() else {
            return Ok(());
        };
        let k = keys(account);
        let stored: HashMap<String, String> = self.with_conn(|c| c.hgetall(&k.data))?;
        let dead: Vec<&String> = stored
            .iter()
            .filter(|(_, json)| {
                serde_json::from_str::<Reservation>(json).is_ok_and(|r| {
                    r.host.as_deref() == Some(here) && r.live_from(Some(here)) == Some(false)
                })
            })
            .map(|(id, _)| id)
            .collect();
        if dead.is_empty() {
            return Ok(());
        }
        self.with_conn(|c| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for id in &dead {
                pipe.hdel(&k.data, *id)
                    .hdel(&k.units, *id)
                    .zrem(&k.leases, *id);
            }
            pipe.query::<()>(c)
        })
    }

    fn sum(&self, account: &str) -> Result<u64, LedgerError> {
        self.drop_dead_here(account)?;
        let k = keys(account);
        let text: String = self.with_conn(|c| {
            Script::new(SUM)
                .key(&k.data)
                .key(&k.units)
                .key(&k.leases)
                .invoke(c)
        })?;
        text.parse().map_err(|_| LedgerError::Overflow {
            account: account.to_string(),
        })
    }

    /// Renews the lease of `reservation` (`stored` is its stored form, which [`Ledger::update`]
    /// may change) until its flag is set (release, or this ledger dropped), writing it again
    /// should it be gone.
    fn renew_while_held(&self, reservation: &Reservation, stored: Stored) {
        let stop = Arc::new(AtomicBool::new(false));
        let stored = Arc::new(Mutex::new(stored));
        let (client, shown, warn) = (self.client.clone(), self.shown.clone(), self.warn.clone());
        let k = keys(&reservation.account);
        let (id, account) = (reservation.id.clone(), reservation.account.clone());
        let lease = self.lease;
        let flag = stop.clone();
        let current = stored.clone();
        let thread = std::thread::spawn(move || {
            let step = Duration::from_millis(10);
            let mut conn = None;
            'renew: loop {
                let mut waited = Duration::ZERO;
                while waited < lease / 3 {
                    if flag.load(Ordering::SeqCst) {
                        break 'renew;
                    }
                    std::thread::sleep(step);
                    waited += step;
                }
                let now = current.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let units = now.units.split(' ').next().unwrap_or_default().to_string();
                if conn.is_none() {
                    match connect(&client, &shown) {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            warn(&format!("warning: cannot renew the reservation of {units} units: {e}; other gates stop counting it {} s after its last renewal", lease.as_secs()));
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                let renewed: redis::RedisResult<i64> = Script::new(RENEW)
                    .key(&k.data)
                    .key(&k.units)
                    .key(&k.leases)
                    .key(ACCOUNTS)
                    .arg(&id)
                    .arg(crate::count::millis(lease))
                    .arg(&now.units)
                    .arg(&now.json)
                    .arg(&account)
                    .invoke(c);
                match renewed {
                    Ok(1) => {}
                    Ok(_) => warn(&format!(
                        "warning: the reservation of {units} units had lapsed in Redis at {shown} (its lease ran out); it is held again"
                    )),
                    Err(e) => {
                        conn = None; // reconnect next time
                        warn(&format!(
                            "warning: cannot renew the reservation of {units} units: {}; other gates stop counting it {} s after its last renewal",
                            redis_error(&shown, &e),
                            lease.as_secs()
                        ));
                    }
                }
            }
        });
        self.renewers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                reservation.id.clone(),
                Renewer {
                    stop,
                    stored,
                    thread,
                },
            );
    }

    /// Stops the renewer of `id` and waits for it, so that no renewal writes the reservation
    /// again after it is released.
    fn stop_renewing(&self, id: &str) {
        let renewer = self
            .renewers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Some(renewer) = renewer {
            renewer.stop.store(true, Ordering::SeqCst);
            let _ = renewer.thread.join();
        }
    }
}

impl Drop for RedisLedger {
    fn drop(&mut self) {
        for renewer in self
            .renewers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            renewer.stop.store(true, Ordering::SeqCst);
        }
    }
}

fn connect(client: &redis::Client, shown: &str) -> Result<Connection, LedgerError> {
    let conn = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(|e| redis_error(shown, &e))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .and_then(|()| conn.set_write_timeout(Some(Duration::from_secs(5))))
        .map_err(|e| redis_error(shown, &e))?;
    Ok(conn)
}

/// What went wrong with Redis, in a few words (shared by the guard's messages).
pub(crate) fn redis_failure(e: &redis::RedisError) -> String {
    if e.is_connection_refusal() {
        "connection refused".to_string()
    } else if e.is_timeout() {
        "no answer in time".to_string()
    } else {
        e.to_string()
    }
}

fn redis_error(shown: &str, e: &redis::RedisError) -> LedgerError {
    LedgerError::Redis {
        at: shown.to_string(),
        reason: redis_failure(e),
    }
}

impl Ledger for RedisLedger {
    fn reserve(
        &self,
        claim: &Claim,
        admit: &mut dyn FnMut(u64) -> Option<u64>,
    ) -> Result<Option<Reservation>, LedgerError> {
        let k = keys(&claim.account);
        for _ in 0..TRIES {
            let reserved = self.sum(&claim.account)?;
            let Some(units) = admit(reserved) else {
                return Ok(None);
            };
            let reservation = claim.reservation(units);
            let stored = Stored::of(&reservation, &self.shown)?;
            let added: i64 = self.with_conn(|c| {
                Script::new(ADD)
                    .key(&k.data)
                    .key(&k.units)
                    .key(&k.leases)
                    .key(ACCOUNTS)
                    .arg(reserved.to_string())
                    .arg(&reservation.id)
                    .arg(&stored.units)
                    .arg(&stored.json)
                    .arg(crate::count::millis(self.lease))
                    .arg(&claim.account)
                    .invoke(c)
            })?;
            if added == 1 {
                self.renew_while_held(&reservation, stored);
                return Ok(Some(reservation));
            }
        }
        Err(LedgerError::Redis {
            at: self.shown.clone(),
            reason: format!(
                "the reservations changed {TRIES} times while this gate decided; try again"
            ),
        })
    }

    fn update(&self, reservation: &Reservation) -> Result<(), LedgerError> {
        let stored = Stored::of(reservation, &self.shown)?;
        // The renewer writes the new form from now on, so it never puts the old one back.
        if let Some(renewer) = self
            .renewers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&reservation.id)
        {
            *renewer.stored.lock().unwrap_or_else(|p| p.into_inner()) = stored.clone();
        }
        let k = keys(&reservation.account);
        self.with_conn(|c| {
            Script::new(RENEW)
                .key(&k.data)
                .key(&k.units)
                .key(&k.leases)
                .key(ACCOUNTS)
                .arg(&reservation.id)
                .arg(crate::count::millis(self.lease))
                .arg(&stored.units)
                .arg(&stored.json)
                .arg(&reservation.account)
                .invoke::<i64>(c)
        })
        .map(|_| ())
    }

    fn release(&self, reservation: &Reservation) -> Result<(), LedgerError> {
        self.stop_renewing(&reservation.id);
        let k = keys(&reservation.account);
        self.with_conn(|c| {
            redis::pipe()
                .atomic()
                .hdel(&k.data, &reservation.id)
                .hdel(&k.units, &reservation.id)
                .zrem(&k.leases, &reservation.id)
                .query::<()>(c)
        })
    }

    fn reserved(&self, account: &str) -> Result<u64, LedgerError> {
        self.sum(account)
    }

    fn list(&self) -> Result<Vec<Reservation>, LedgerError> {
        let accounts: Vec<String> = self.with_conn(|c| c.smembers(ACCOUNTS))?;
        let mut all = Vec::new();
        for account in accounts {
            self.sum(&account)?; // drops expired leases first
            let values: Vec<String> = self.with_conn(|c| c.hvals(keys(&account).data))?;
            if values.is_empty() {
                self.with_conn(|c| c.srem::<_, _, i64>(ACCOUNTS, &account))?;
            }
            for value in values {
                let reservation: Reservation =
                    serde_json::from_str(&value).map_err(|e| LedgerError::Redis {
                        at: self.shown.clone(),
                        reason: format!("a reservation of account {account} is damaged: {e}"),
                    })?;
                all.push(reservation);
            }
        }
        all.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    fn location(&self) -> String {
        format!("Redis at {}", self.shown)
    }
}
