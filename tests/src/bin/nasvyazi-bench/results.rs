//! Collected figures and their JSON file.

use std::path::PathBuf;

use serde::Serialize;

/// One measured figure, with what it is compared to.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// What the figure is compared to (a reference measured in the same
    /// run, or a target), in words.
    pub reference: String,
    /// The reference's value, when it is a number.
    pub reference_value: Option<f64>,
    /// value / reference_value, when both are numbers.
    pub ratio: Option<f64>,
    /// The target, in words (e.g. "ratio <= 1.3").
    pub target: String,
    /// Whether the target was met, when there is one.
    pub met: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub machine: String,
    pub figures: Vec<Figure>,
    /// Sections that could not run, and why.
    pub notes: Vec<(String, String)>,
}

impl Results {
    /// An empty collector for one section.
    pub fn child() -> Results {
        Results::default()
    }

    pub fn add(&mut self, f: Figure) {
        eprintln!("   {}: {:.2} {} ({})", f.name, f.value, f.unit, f.reference);
        self.figures.push(f);
    }

    /// A figure with a numeric reference and a target on the ratio.
    #[allow(clippy::too_many_arguments)]
    pub fn ratio(
        &mut self,
        name: &str,
        value: f64,
        unit: &str,
        reference: &str,
        reference_value: f64,
        target: &str,
        met: impl Fn(f64) -> bool,
    ) {
        let ratio = if reference_value > 0.0 {
            value / reference_value
        } else {
            f64::NAN
        };
        self.add(Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            reference: reference.into(),
            reference_value: Some(reference_value),
            ratio: Some(ratio),
            target: target.into(),
            met: Some(met(ratio)),
        });
    }

    /// A figure checked against a fixed target.
    pub fn target(&mut self, name: &str, value: f64, unit: &str, target: &str, met: bool) {
        self.add(Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            reference: target.into(),
            reference_value: None,
            ratio: None,
            target: target.into(),
            met: Some(met),
        });
    }

    pub fn note(&mut self, section: &str, text: &str) {
        self.notes.push((section.into(), text.into()));
    }

    pub fn extend(&mut self, other: Results) {
        self.figures.extend(other.figures);
        self.notes.extend(other.notes);
    }

    pub fn print_table(&self) {
        println!(
            "\n{:<58} {:>14} {:<10} {:>8}  {:<6} reference",
            "figure", "value", "unit", "ratio", "target"
        );
        for f in &self.figures {
            let ratio = f.ratio.map(|r| format!("{r:.3}")).unwrap_or_default();
            let met = match f.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            println!(
                "{:<58} {:>14.2} {:<10} {:>8}  {:<6} {}",
                f.name, f.value, f.unit, ratio, met, f.reference
            );
        }
        for (s, n) in &self.notes {
            println!("note [{s}]: {n}");
        }
    }

    pub fn write(&mut self, path: &str) -> anyhow::Result<PathBuf> {
        self.machine = format!(
            "{} cores, {}",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            std::env::consts::ARCH
        );
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A run of some sections keeps the other sections' latest figures.
        if let Ok(old) = std::fs::read_to_string(&path)
            && let Ok(old) = serde_json::from_str::<serde_json::Value>(&old)
            && let Some(figures) = old["figures"].as_array()
        {
            for f in figures {
                if let Ok(f) = serde_json::from_value::<Figure>(f.clone())
                    && !self.figures.iter().any(|x| x.name == f.name)
                {
                    self.figures.push(f);
                }
            }
        }
        std::fs::write(&path, serde_json::to_string_pretty(self)?)?;
        Ok(path)
    }
}
