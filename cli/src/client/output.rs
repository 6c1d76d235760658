//! What a command prints on stdout: text for people, or one JSON document with `--json`.

use serde::Serialize;

/// The options every client command takes.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct OutputArgs {
    /// Print one machine-readable JSON document on stdout (errors too).
    #[arg(long)]
    pub json: bool,
    /// No progress and no notes on stderr (errors are still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

impl OutputArgs {
    pub fn progress(&self) -> crate::client::progress::Mode {
        crate::client::progress::Mode::detect(self.quiet)
    }

    /// Prints `value` as JSON with `--json`, else the text `human` makes of it.
    pub fn emit<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            let text = human(value);
            if !text.is_empty() {
                println!("{}", text.trim_end_matches('\n'));
            }
        }
        Ok(())
    }
}

/// Bytes in binary units, one decimal: `300.0 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Rows as aligned columns (two spaces apart; the last column is not padded).
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(300 * 1024 * 1024), "300.0 MiB");
        assert_eq!(
            human_bytes(5 * 1024 * 1024 * 1024 + 512 * 1024 * 1024),
            "5.5 GiB"
        );
        assert_eq!(human_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn tables_align_their_columns() {
        let rows = vec![
            vec!["NAME".into(), "FORMAT".into(), "DESCRIPTION".into()],
            vec!["libs".into(), "generic".into(), "".into()],
            vec!["python-packages".into(), "pypi".into(), "wheels".into()],
        ];
        assert_eq!(
            table(&rows),
            "NAME             FORMAT   DESCRIPTION\nlibs             generic\npython-packages  pypi     wheels\n"
        );
        assert_eq!(table(&[]), "");
    }
}
