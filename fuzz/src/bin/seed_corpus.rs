//! Writes the seed corpora under `fuzz/corpus/` from `tests/scenarios/*.scn`:
//! the scenario texts for `scenario`, their traces in the byte format for `machine`.
//! It also writes the settings part of `fuzz/scenario.dict` from the settings table.
//! Run from `fuzz/`: `cargo run --bin seed-corpus`.

use keepalive::sim::Scenario;
use keepalive::Setting;
use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenarios = root.join("../tests/scenarios");
    // The committed seeds are exactly what this writes: clear the old ones first (a fuzz
    // run pointed at these folders by mistake would otherwise leave its finds here).
    for target in ["machine", "scenario", "config", "set"] {
        let dir = root.join("corpus").join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
    }
    let mut n = 0;
    let mut paths: Vec<_> = fs::read_dir(&scenarios)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&path)?;
        fs::write(root.join("corpus/scenario").join(&name), &text)?;
        let s = Scenario::parse(&text).expect("the repo's scenarios parse");
        if let Ok(config) = s.config() {
            let bytes = keepalive_fuzz::encode(&config, s.start(), &s.steps());
            let back = keepalive_fuzz::decode(&bytes).expect("an encoded config decodes");
            assert_eq!(back.steps.len(), s.steps().len(), "{name}");
            fs::write(root.join("corpus/machine").join(&name), &bytes)?;
            // The set reads the same config, then its steps as operations on a few keys.
            fs::write(root.join("corpus/set").join(&name), &bytes)?;
        }
        n += 1;
    }
    write_dictionary(&root.join("scenario.dict"))?;
    println!("seeded the corpora from {n} scenarios");
    Ok(())
}

/// The dictionary's last part, one `"name="` per setting of the table.
const SETTINGS_PART: &str =
    "# The settings, one \"name=\" each: written by seed-corpus from the settings table.\n";

/// Rewrites the settings part of the scenario dictionary (its end) from the table.
fn write_dictionary(path: &Path) -> std::io::Result<()> {
    let text = fs::read_to_string(path)?;
    let mut out = text
        .split(SETTINGS_PART)
        .next()
        .unwrap_or_default()
        .to_string();
    out.push_str(SETTINGS_PART);
    for s in Setting::ALL {
        out.push_str(&format!("\"{}=\"\n", s.name()));
    }
    fs::write(path, out)
}
