//! The settings table as the harnesses read it: every row of `Setting::ALL`, its default
//! and the form of its value learnt from the scenario language (the text form of
//! `keepalive::sim`), so that the generators of the property tests and the fuzz targets
//! cover a new setting without a line here. A new form of value (not a duration, a count,
//! a factor, a 64-bit number, a word or a keyed override) stops every harness with a
//! message naming the setting.

use keepalive::sim::{Recorder, Scenario, ScenarioError};
use keepalive::{Config, ConfigError, Decision, Instant, Setting};

/// How a setting's value is written.
#[derive(Clone, Debug, PartialEq)]
pub enum Form {
    /// A duration in whole milliseconds; `off` if zero turns it off.
    Duration { off: bool },
    /// A count of at most 32 bits (`unlimited` is `u32::MAX`).
    Count,
    /// A growth factor, kept in sixteenths.
    Factor,
    /// A 64-bit number (the seed).
    Wide,
    /// One of these words.
    Words(Vec<String>),
    /// `<code>:<decision>`, given any number of times (the reconnect overrides).
    Keyed,
}

/// One row: the setting, its form, its client default as text, and whether a server
/// takes it.
#[derive(Clone, Debug)]
pub struct Row {
    pub setting: Setting,
    pub form: Form,
    pub default: String,
    pub server: bool,
}

/// Every row, in the table's order.
#[derive(Clone, Debug)]
pub struct Table {
    pub rows: Vec<Row>,
}

fn reads(setting: Setting, text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(&format!(
        "config client {}={text}\n0s tick\n",
        setting.name()
    ))
}

/// The `name=value` pairs of a config as the scenario language writes them.
fn written(config: Config) -> Vec<(String, String)> {
    let text = Recorder::new(config, Instant::ZERO).scenario();
    let line = text.lines().next().unwrap_or_default();
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn form_of(setting: Setting) -> Form {
    if reads(setting, "1000:backoff").is_ok() {
        return Form::Keyed;
    }
    if reads(setting, "1ms").is_ok() {
        return Form::Duration {
            off: reads(setting, "off").is_ok(),
        };
    }
    if reads(setting, "1.5").is_ok() {
        return Form::Factor;
    }
    if reads(setting, "18446744073709551615").is_ok() {
        return Form::Wide;
    }
    if reads(setting, "7").is_ok() {
        return Form::Count;
    }
    // A word setting names its words when given another: "...; use a, b, or c".
    let err = reads(setting, "?").expect_err("'?' is no value");
    let words = err.message().rsplit_once("; use ").map(|(_, w)| {
        w.split(", ")
            .map(|w| w.trim_start_matches("or ").to_string())
            .collect::<Vec<_>>()
    });
    match words {
        Some(words) if words.iter().all(|w| reads(setting, w).is_ok()) => Form::Words(words),
        _ => panic!(
            "the harnesses do not know how {} is written: {}; teach tests/check/settings.rs",
            setting.name(),
            err.message()
        ),
    }
}

impl Table {
    pub fn read() -> Table {
        let defaults = written(
            Config::client()
                .seed(0)
                .build()
                .expect("the defaults build"),
        );
        let server: Vec<String> = written(Config::server().seed(0).build().expect("they build"))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let rows = Setting::ALL
            .iter()
            .map(|&setting| {
                let name = setting.name();
                let form = form_of(setting);
                let default = defaults
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                Row {
                    setting,
                    server: server.iter().any(|k| k == name),
                    form,
                    default,
                }
            })
            .collect();
        Table { rows }
    }

    /// The rows a role takes that are written `name=value` once (not the overrides).
    pub fn plain(&self, server: bool) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(move |r| r.form != Form::Keyed && (r.server || !server))
    }

    /// The override rows (a client's).
    pub fn keyed(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.form == Form::Keyed)
    }

    /// Builds a config from `name=value` pairs through the scenario language (its seed is
    /// 0 unless given).
    pub fn build(server: bool, values: &[(Setting, String)]) -> Result<Config, ConfigError> {
        let role = if server { "server" } else { "client" };
        let mut line = format!("config {role}");
        for (s, v) in values {
            line.push_str(&format!(" {}={v}", s.name()));
        }
        let scenario = Scenario::parse(&(line + "\n0s tick\n")).unwrap_or_else(|e| panic!("{e}"));
        scenario.config()
    }

    /// A config's values, row by row (overrides left out), as `written` gives them.
    pub fn values(config: Config) -> Vec<(String, String)> {
        written(config)
    }
}

/// The exact value `raw` stands for in `form`, as text: a duration in milliseconds (0 is
/// off), a count, sixteenths of a factor, a 64-bit number, or a word's index.
pub fn text(form: &Form, raw: u64) -> String {
    match form {
        Form::Duration { off: true } if raw == 0 => "off".into(),
        Form::Duration { .. } => format!("{raw}ms"),
        Form::Count | Form::Wide => raw.to_string(),
        Form::Factor => format!("{}", raw as f32 / 16.0),
        Form::Words(words) => words[raw as usize % words.len()].clone(),
        Form::Keyed => panic!("a keyed setting has no single value"),
    }
}

/// The inverse of [`text`] for what the scenario language writes.
pub fn raw(form: &Form, text: &str) -> u64 {
    fn misread<T>(text: &str, form: &Form) -> T {
        panic!("'{text}' is not written as {form:?}")
    }
    match form {
        Form::Duration { .. } if text == "off" => 0,
        Form::Duration { .. } => {
            Scenario::parse(&format!("config client\nstart {text}\n{text} tick\n"))
                .map(|s| s.start().as_nanos() / 1_000_000)
                .unwrap_or_else(|_| misread(text, form))
        }
        Form::Count if text == "unlimited" => u64::from(u32::MAX),
        Form::Count | Form::Wide => text.parse().unwrap_or_else(|_| misread(text, form)),
        Form::Factor => {
            (text.parse::<f32>().unwrap_or_else(|_| misread(text, form)) * 16.0).round() as u64
        }
        Form::Words(words) => words
            .iter()
            .position(|w| w == text)
            .unwrap_or_else(|| misread(text, form)) as u64,
        Form::Keyed => misread(text, form),
    }
}

/// A value worth testing, from any `r`: the edges (the shortest and longest duration,
/// off) and the common ranges, in the form's exact terms for [`text`].
pub fn spread(form: &Form, r: u64) -> u64 {
    let (pick, r) = (r & 7, r >> 3);
    match form {
        Form::Duration { off } => match pick {
            0 if *off => 0,
            1 => 86_400_000,
            2 | 3 => 1 + r % 50,
            _ => 1 + r % 120_000,
        },
        Form::Count => r % 6,
        Form::Factor => 16 + r % 225,
        Form::Wide => r,
        Form::Words(words) => r % words.len() as u64,
        Form::Keyed => 0,
    }
}

/// A reconnect override's value, `<code>:<decision>`, as the scenario language writes it
/// (a wait beyond 584 years is written as the longest it can).
pub fn override_text(code: u16, d: Decision) -> String {
    let d = match d {
        Decision::Soon => "soon".to_string(),
        Decision::Later => "later".into(),
        Decision::GiveUp => "give_up".into(),
        Decision::NotBefore(w) => {
            format!("not_before:{}ns", w.as_nanos().min(u128::from(u64::MAX)))
        }
        _ => "backoff".into(),
    };
    format!("{code}:{d}")
}
