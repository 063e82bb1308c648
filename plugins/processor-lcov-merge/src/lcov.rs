//! LCOV tracefiles: reading, merging as `lcov --add-tracefile` does, writing.
//!
//! Records are matched by their `SF` path. Line counts (`DA`) are summed per
//! line over the union of lines; function counts (`FNDA`) by function name;
//! branch counts (`BRDA`) by (line, block, branch), where `-` (never
//! evaluated) plus `-` stays `-`, `-` plus n is n, and n plus m is n + m. The
//! totals (`LF`, `LH`, `FNF`, `FNH`, `BRF`, `BRH`) are recomputed, never summed.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// A tracefile: one record per source file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tracefile {
    records: Vec<Record>,
    index: HashMap<String, usize>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Record {
    pub test_name: String,
    pub source: String,
    /// Function name → (first line, last line when given).
    pub functions: BTreeMap<String, (u64, Option<u64>)>,
    pub function_counts: BTreeMap<String, u64>,
    /// (line, block, branch) → taken; `None` is `-`.
    pub branches: BTreeMap<(u64, Part, Part), Option<u64>>,
    /// Line → count.
    pub lines: BTreeMap<u64, u64>,
}

/// A branch's block or branch id: a number (gcov), or a description
/// (coverage.py writes `jump to line 3`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Number(u64),
    Text(String),
}

impl Part {
    fn parse(text: &str) -> Self {
        match text.trim().parse() {
            Ok(n) => Part::Number(n),
            Err(_) => Part::Text(text.to_owned()),
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Number(n) => write!(f, "{n}"),
            Part::Text(text) => f.write_str(text),
        }
    }
}

/// A line that is not LCOV.
#[derive(Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn number(text: &str, line: usize, what: &str) -> Result<u64, ParseError> {
    // Counts past u64 do not occur; gcov writes large counts as plain integers.
    text.trim().parse().map_err(|_| ParseError {
        line,
        message: format!("`{text}` is not a {what}"),
    })
}

impl Tracefile {
    /// Reads a tracefile.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut tracefile = Tracefile::default();
        tracefile.add_text(text)?;
        Ok(tracefile)
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Merges the records of `text` into this tracefile.
    pub fn add_text(&mut self, text: &str) -> Result<(), ParseError> {
        let mut test_name = String::new();
        let mut current: Option<Record> = None;
        for (index, raw) in text.lines().enumerate() {
            let at = index + 1;
            let line = raw.trim_end_matches('\r');
            let Some((key, value)) = line.split_once(':') else {
                if line.trim() == "end_of_record" {
                    if let Some(record) = current.take() {
                        self.add(record);
                    }
                } else if !line.trim().is_empty() {
                    return Err(ParseError {
                        line: at,
                        message: format!("`{line}` is not an LCOV line"),
                    });
                }
                continue;
            };
            let missing = || ParseError {
                line: at,
                message: format!("`{key}` outside a record (no `SF` before it)"),
            };
            match key {
                "TN" => test_name = value.to_owned(),
                "SF" => {
                    if let Some(record) = current.take() {
                        self.add(record);
                    }
                    current = Some(Record {
                        test_name: test_name.clone(),
                        source: value.to_owned(),
                        ..Record::default()
                    });
                }
                "FN" => {
                    let record = current.as_mut().ok_or_else(missing)?;
                    // `FN:line,name` (lcov 1) or `FN:first,last,name` (lcov 2).
                    let mut parts = value.splitn(3, ',');
                    let first = number(parts.next().unwrap_or(""), at, "line number")?;
                    let (last, name) = match (parts.next(), parts.next()) {
                        (Some(last), Some(name)) if last.trim().parse::<u64>().is_ok() => {
                            (Some(number(last, at, "line number")?), name.to_owned())
                        }
                        (Some(name), Some(rest)) => (None, format!("{name},{rest}")),
                        (Some(name), None) => (None, name.to_owned()),
                        _ => {
                            return Err(ParseError {
                                line: at,
                                message: format!("`FN:{value}` has no function name"),
                            })
                        }
                    };
                    record.functions.entry(name).or_insert((first, last));
                }
                "FNDA" => {
                    let record = current.as_mut().ok_or_else(missing)?;
                    let (count, name) = value.split_once(',').ok_or_else(|| ParseError {
                        line: at,
                        message: format!("`FNDA:{value}` is not `count,name`"),
                    })?;
                    *record.function_counts.entry(name.to_owned()).or_default() +=
                        number(count, at, "count")?;
                }
                "BRDA" => {
                    let record = current.as_mut().ok_or_else(missing)?;
                    // `line,block,branch,taken`; the branch may be a description
                    // holding commas, so the count is the last field.
                    let fields = value.split_once(',').and_then(|(line, rest)| {
                        let (block, rest) = rest.split_once(',')?;
                        let (branch, taken) = rest.rsplit_once(',')?;
                        Some((line, block, branch, taken))
                    });
                    let Some((line_number, block, branch, taken)) = fields else {
                        return Err(ParseError {
                            line: at,
                            message: format!("`BRDA:{value}` is not `line,block,branch,taken`"),
                        });
                    };
                    let key = (
                        number(line_number, at, "line number")?,
                        Part::parse(block),
                        Part::parse(branch),
                    );
                    let taken = match taken.trim() {
                        "-" => None,
                        taken => Some(number(taken, at, "count")?),
                    };
                    let entry = record.branches.entry(key).or_insert(None);
                    *entry = add_taken(*entry, taken);
                }
                "DA" => {
                    let record = current.as_mut().ok_or_else(missing)?;
                    let mut parts = value.split(',');
                    let line_number = number(parts.next().unwrap_or(""), at, "line number")?;
                    let count = number(parts.next().unwrap_or(""), at, "count")?;
                    *record.lines.entry(line_number).or_default() += count;
                }
                // Totals are recomputed; other keys (VER, checksums) are not kept.
                _ => {}
            }
        }
        if let Some(record) = current.take() {
            self.add(record);
        }
        Ok(())
    }

    /// Merges one record into the tracefile.
    pub fn add(&mut self, record: Record) {
        match self.index.get(&record.source) {
            Some(&i) => self.records[i].merge(record),
            None => {
                self.index.insert(record.source.clone(), self.records.len());
                self.records.push(record);
            }
        }
    }

    /// Merges another tracefile into this one.
    pub fn merge(&mut self, other: Tracefile) {
        for record in other.records {
            self.add(record);
        }
    }

    /// The tracefile as LCOV text, as lcov writes it: records in the order
    /// of their paths, those without data left out.
    pub fn write(&self) -> String {
        let mut records: Vec<&Record> = self.records.iter().filter(|r| !r.is_empty()).collect();
        records.sort_by(|a, b| a.source.cmp(&b.source));
        let mut out = String::new();
        for record in records {
            record.write(&mut out);
        }
        out
    }
}

fn add_taken(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (Some(n), None) | (None, Some(n)) => Some(n),
        (Some(n), Some(m)) => Some(n + m),
    }
}

impl Record {
    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.functions.is_empty() && self.branches.is_empty()
    }

    fn merge(&mut self, other: Record) {
        for (name, span) in other.functions {
            self.functions.entry(name).or_insert(span);
        }
        for (name, count) in other.function_counts {
            *self.function_counts.entry(name).or_default() += count;
        }
        for (key, taken) in other.branches {
            let entry = self.branches.entry(key).or_insert(None);
            *entry = add_taken(*entry, taken);
        }
        for (line, count) in other.lines {
            *self.lines.entry(line).or_default() += count;
        }
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "TN:{}", self.test_name);
        let _ = writeln!(out, "SF:{}", self.source);
        let mut functions: Vec<(&String, &(u64, Option<u64>))> = self.functions.iter().collect();
        functions.sort_by_key(|(name, (line, _))| (*line, *name));
        for (name, (first, last)) in &functions {
            match last {
                Some(last) => writeln!(out, "FN:{first},{last},{name}"),
                None => writeln!(out, "FN:{first},{name}"),
            }
            .expect("writing to a String");
        }
        // By name, as lcov writes them.
        for name in self.functions.keys() {
            let count = self.function_counts.get(name).copied().unwrap_or(0);
            let _ = writeln!(out, "FNDA:{count},{name}");
        }
        let hit = functions
            .iter()
            .filter(|(name, _)| self.function_counts.get(*name).is_some_and(|c| *c > 0))
            .count();
        let _ = writeln!(out, "FNF:{}", functions.len());
        let _ = writeln!(out, "FNH:{hit}");
        for ((line, block, branch), taken) in &self.branches {
            match taken {
                Some(taken) => writeln!(out, "BRDA:{line},{block},{branch},{taken}"),
                None => writeln!(out, "BRDA:{line},{block},{branch},-"),
            }
            .expect("writing to a String");
        }
        if !self.branches.is_empty() {
            let taken = self
                .branches
                .values()
                .filter(|t| t.is_some_and(|n| n > 0))
                .count();
            let _ = writeln!(out, "BRF:{}", self.branches.len());
            let _ = writeln!(out, "BRH:{taken}");
        }
        for (line, count) in &self.lines {
            let _ = writeln!(out, "DA:{line},{count}");
        }
        let _ = writeln!(out, "LF:{}", self.lines.len());
        let _ = writeln!(
            out,
            "LH:{}",
            self.lines.values().filter(|c| **c > 0).count()
        );
        out.push_str("end_of_record\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "TN:\nSF:/src/a.c\nFN:3,main\nFN:10,helper\nFNDA:1,main\nFNDA:0,helper\nFNF:2\nFNH:1\n\
BRDA:5,0,0,-\nBRDA:5,0,1,-\nBRDA:6,0,0,2\nBRF:3\nBRH:1\nDA:3,1\nDA:4,1\nDA:10,0\nLF:3\nLH:2\nend_of_record\n";
    const B: &str = "TN:\nSF:/src/a.c\nFN:3,main\nFN:10,helper\nFNDA:1,main\nFNDA:4,helper\nFNF:2\nFNH:2\n\
BRDA:5,0,0,-\nBRDA:5,0,1,3\nBRDA:6,0,0,1\nBRF:3\nBRH:2\nDA:3,1\nDA:10,4\nDA:11,4\nLF:3\nLH:3\nend_of_record\n\
SF:/src/b.c\nDA:1,7\nLF:1\nLH:1\nend_of_record\n";

    #[test]
    fn merging_sums_counts_and_recomputes_totals() {
        let mut merged = Tracefile::parse(A).unwrap();
        merged.merge(Tracefile::parse(B).unwrap());
        let text = merged.write();
        let a = text.split("end_of_record").next().unwrap();
        for expected in [
            "FNDA:2,main",
            "FNDA:4,helper",
            "FNF:2",
            "FNH:2",
            // - + - = -, - + 3 = 3, 2 + 1 = 3
            "BRDA:5,0,0,-",
            "BRDA:5,0,1,3",
            "BRDA:6,0,0,3",
            "BRF:3",
            "BRH:2",
            // The union of lines.
            "DA:3,2",
            "DA:4,1",
            "DA:10,4",
            "DA:11,4",
            "LF:4",
            "LH:4",
        ] {
            assert!(
                a.lines().any(|l| l == expected),
                "{expected} missing in\n{a}"
            );
        }
        assert_eq!(merged.records().len(), 2);
        assert_eq!(merged.records()[1].source, "/src/b.c");
    }

    /// What `lcov --rc lcov_branch_coverage=1 -a A -a B` (1.16) wrote.
    const BY_LCOV: &str = "TN:\nSF:/src/a.c\nFN:3,main\nFN:10,helper\nFNDA:4,helper\nFNDA:2,main\n\
FNF:2\nFNH:2\nBRDA:5,0,0,-\nBRDA:5,0,1,3\nBRDA:6,0,0,3\nBRF:3\nBRH:2\nDA:3,2\nDA:4,1\nDA:10,4\n\
DA:11,4\nLF:4\nLH:4\nend_of_record\nTN:\nSF:/src/b.c\nFNF:0\nFNH:0\nDA:1,7\nLF:1\nLH:1\nend_of_record\n";

    #[test]
    fn the_merge_is_written_as_lcov_writes_it() {
        let mut merged = Tracefile::parse(A).unwrap();
        merged.merge(Tracefile::parse(B).unwrap());
        assert_eq!(merged.write(), BY_LCOV);
    }

    #[test]
    fn written_tracefiles_read_back_the_same() {
        let mut merged = Tracefile::parse(A).unwrap();
        merged.merge(Tracefile::parse(B).unwrap());
        let again = Tracefile::parse(&merged.write()).unwrap();
        assert_eq!(again.records(), merged.records());
    }

    #[test]
    fn branches_may_be_described_as_coverage_py_does() {
        let text =
            "SF:/s/m.py\nBRDA:2,0,jump to line 3,1\nBRDA:2,0,jump to line 4,0\nend_of_record\n";
        let mut t = Tracefile::parse(text).unwrap();
        t.merge(Tracefile::parse(text).unwrap());
        let written = t.write();
        assert!(
            written
                .contains("BRDA:2,0,jump to line 3,2\nBRDA:2,0,jump to line 4,0\nBRF:2\nBRH:1\n"),
            "{written}"
        );
    }

    #[test]
    fn records_without_data_are_left_out() {
        let t = Tracefile::parse("SF:/usr/include/c++/12/iostream\nend_of_record\n").unwrap();
        assert_eq!(t.write(), "");
    }

    #[test]
    fn lcov_2_function_lines_keep_their_end() {
        let t = Tracefile::parse("SF:x.c\nFN:3,9,main\nFNDA:2,main\nend_of_record\n").unwrap();
        assert_eq!(t.records()[0].functions["main"], (3, Some(9)));
        assert!(t.write().contains("FN:3,9,main\n"));
    }

    #[test]
    fn what_is_not_lcov_says_where() {
        let error = Tracefile::parse("SF:x.c\nDA:three,1\n").unwrap_err();
        assert_eq!(error.to_string(), "line 2: `three` is not a line number");
        let error = Tracefile::parse("DA:1,1\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 1: `DA` outside a record (no `SF` before it)"
        );
    }
}
