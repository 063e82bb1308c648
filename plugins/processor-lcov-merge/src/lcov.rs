//! LCOV tracefiles: reading, merging as `lcov --add-tracefile` does, writing.
//!
//! Records are matched by their `SF` path. Line counts (`DA`) are summed per
//! line over the union of lines; function counts (`FNDA`) by function name;
//! branch counts (`BRDA`) by (line, block, branch), where `-` (never
//! evaluated) plus `-` stays `-`, `-` plus n is n, and n plus m is n + m. The
//! totals (`LF`, `LH`, `FNF`, `FNH`, `BRF`, `BRH`) are recomputed, never summed.

use std::fmt::Write as _;

// hashbrown's maps: a fast hash, and `entry_ref`, which looks a name up
// once and copies it only when new.
use hashbrown::HashMap;

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
    /// By name. Every map is hashed and sorted only when written: C++
    /// names are long and share long prefixes, which an ordered map
    /// compared at every level of every look-up (a third of the time),
    /// and lines and branches are looked up forty times for each write.
    pub functions: HashMap<String, Function>,
    /// (line, block, branch) → taken; `None` is `-`.
    pub branches: HashMap<(u64, Part, Part), Option<u64>>,
    /// Line → count.
    pub lines: HashMap<u64, u64>,
}

/// A function of a record: where it is (`FN`) and how often it ran (`FNDA`).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Function {
    /// First line, and last line when given; `None` for a count without
    /// an `FN` line, which is not written.
    pub span: Option<(u64, Option<u64>)>,
    pub count: u64,
}

/// A branch's block or branch id: a number (gcov), or a description
/// (coverage.py writes `jump to line 3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// `text` split at the first `byte` (an ASCII separator), or at the last
/// with `last`. A byte scan: on LCOV's short fields it is several times
/// faster than a `char` pattern, which sets up a search for every call.
fn split_at_byte(text: &str, byte: u8, last: bool) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let at = match last {
        false => bytes.iter().position(|&b| b == byte)?,
        true => bytes.iter().rposition(|&b| b == byte)?,
    };
    // An ASCII byte is a character boundary on both sides.
    Some((&text[..at], &text[at + 1..]))
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

    /// Merges the records of `text` into this tracefile, each line into
    /// the record of its `SF` as it is read.
    pub fn add_text(&mut self, text: &str) -> Result<(), ParseError> {
        let mut test_name = "";
        let mut current: Option<usize> = None;
        for (index, raw) in text.lines().enumerate() {
            let at = index + 1;
            let line = raw.trim_end_matches('\r');
            let Some((key, value)) = split_at_byte(line, b':', false) else {
                if line.trim() == "end_of_record" {
                    current = None;
                } else if !line.trim().is_empty() {
                    return Err(ParseError {
                        line: at,
                        message: format!("`{line}` is not an LCOV line"),
                    });
                }
                continue;
            };
            if key == "TN" {
                test_name = value;
                continue;
            }
            if key == "SF" {
                current = Some(self.record_of(value, test_name));
                continue;
            }
            let Some(i) = current else {
                // Totals and other keys are not kept, inside a record or not.
                if matches!(key, "FN" | "FNDA" | "BRDA" | "DA") {
                    return Err(ParseError {
                        line: at,
                        message: format!("`{key}` outside a record (no `SF` before it)"),
                    });
                }
                continue;
            };
            self.records[i].add_line(key, value, at)?;
        }
        Ok(())
    }

    /// The index of the record of `source`, made empty when new.
    fn record_of(&mut self, source: &str, test_name: &str) -> usize {
        if let Some(&i) = self.index.get(source) {
            return i;
        }
        self.index.insert(source.to_owned(), self.records.len());
        self.records.push(Record {
            test_name: test_name.to_owned(),
            source: source.to_owned(),
            ..Record::default()
        });
        self.records.len() - 1
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

/// Adds a count to a total, which stays at the largest number rather than
/// wrap: two files that each say a line ran nearly 2^64 times are merged
/// into one that says it ran as often as a count can say.
fn add(total: &mut u64, count: u64) {
    *total = total.saturating_add(count);
}

fn add_taken(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (Some(n), None) | (None, Some(n)) => Some(n),
        (Some(n), Some(m)) => Some(n.saturating_add(m)),
    }
}

impl Record {
    fn is_empty(&self) -> bool {
        self.lines.is_empty() && !self.has_functions() && self.branches.is_empty()
    }

    fn has_functions(&self) -> bool {
        self.functions.values().any(|f| f.span.is_some())
    }

    /// The function `name`, made when new: found by `&str` first, so a
    /// name already known costs no allocation.
    fn function(&mut self, name: &str) -> &mut Function {
        self.functions.entry_ref(name).or_default()
    }

    /// Adds one line of data, `key:value`, read at line `at`.
    fn add_line(&mut self, key: &str, value: &str, at: usize) -> Result<(), ParseError> {
        match key {
            "FN" => {
                // `FN:line,name` (lcov 1) or `FN:first,last,name` (lcov 2).
                let mut parts = value.splitn(3, ',');
                let first = number(parts.next().unwrap_or(""), at, "line number")?;
                let (last, name) = match (parts.next(), parts.next()) {
                    (Some(last), Some(name)) if last.trim().parse::<u64>().is_ok() => {
                        (Some(number(last, at, "line number")?), name)
                    }
                    (Some(_), Some(_)) => (None, value.split_once(',').map_or("", |(_, n)| n)),
                    (Some(name), None) => (None, name),
                    _ => {
                        return Err(ParseError {
                            line: at,
                            message: format!("`FN:{value}` has no function name"),
                        })
                    }
                };
                let function = self.function(name);
                function.span = function.span.or(Some((first, last)));
            }
            "FNDA" => {
                let (count, name) =
                    split_at_byte(value, b',', false).ok_or_else(|| ParseError {
                        line: at,
                        message: format!("`FNDA:{value}` is not `count,name`"),
                    })?;
                let count = number(count, at, "count")?;
                add(&mut self.function(name).count, count);
            }
            "BRDA" => {
                // `line,block,branch,taken`; the branch may be a description
                // holding commas, so the count is the last field.
                let fields = split_at_byte(value, b',', false).and_then(|(line, rest)| {
                    let (block, rest) = split_at_byte(rest, b',', false)?;
                    let (branch, taken) = split_at_byte(rest, b',', true)?;
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
                let entry = self.branches.entry(key).or_insert(None);
                *entry = add_taken(*entry, taken);
            }
            "DA" => {
                // `DA:line,count`, and a checksum after when lcov was asked for one.
                let (line_number, rest) = split_at_byte(value, b',', false).unwrap_or((value, ""));
                let count = split_at_byte(rest, b',', false).map_or(rest, |(count, _)| count);
                let line_number = number(line_number, at, "line number")?;
                let count = number(count, at, "count")?;
                add(self.lines.entry(line_number).or_default(), count);
            }
            // Totals are recomputed; other keys (VER, checksums) are not kept.
            _ => {}
        }
        Ok(())
    }

    fn merge(&mut self, other: Record) {
        for (name, theirs) in other.functions {
            let ours = self.functions.entry(name).or_default();
            ours.span = ours.span.or(theirs.span);
            add(&mut ours.count, theirs.count);
        }
        for (key, taken) in other.branches {
            let entry = self.branches.entry(key).or_insert(None);
            *entry = add_taken(*entry, taken);
        }
        for (line, count) in other.lines {
            add(self.lines.entry(line).or_default(), count);
        }
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "TN:{}", self.test_name);
        let _ = writeln!(out, "SF:{}", self.source);
        // Those with an `FN` line: name, span, count.
        let mut functions: Vec<_> = (self.functions.iter())
            .filter_map(|(name, f)| Some((name, f.span?, f.count)))
            .collect();
        functions.sort_by_key(|(name, (line, _), _)| (*line, *name));
        for (name, (first, last), _) in &functions {
            match last {
                Some(last) => writeln!(out, "FN:{first},{last},{name}"),
                None => writeln!(out, "FN:{first},{name}"),
            }
            .expect("writing to a String");
        }
        // By name, as lcov writes them.
        functions.sort_by_key(|(name, _, _)| *name);
        for (name, _, count) in &functions {
            let _ = writeln!(out, "FNDA:{count},{name}");
        }
        let hit = functions.iter().filter(|(_, _, count)| *count > 0).count();
        let _ = writeln!(out, "FNF:{}", functions.len());
        let _ = writeln!(out, "FNH:{hit}");
        let mut branches: Vec<_> = self.branches.iter().collect();
        branches.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for ((line, block, branch), taken) in branches {
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
        let mut lines: Vec<_> = self.lines.iter().collect();
        lines.sort_unstable();
        for (line, count) in lines {
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

    #[test]
    fn counts_past_the_largest_number_stay_at_it() {
        let max = u64::MAX;
        let text = format!(
            "SF:/src/a.c\nFN:3,main\nFNDA:{max},main\nFNDA:1,main\nBRDA:5,0,0,{max}\n\
             DA:3,{max}\nDA:3,1\nend_of_record\n"
        );
        let mut merged = Tracefile::parse(&text).unwrap();
        merged.merge(Tracefile::parse(&text).unwrap());
        let written = merged.write();
        for expected in [
            format!("FNDA:{max},main"),
            format!("BRDA:5,0,0,{max}"),
            format!("DA:3,{max}"),
        ] {
            assert!(
                written.lines().any(|l| l == expected),
                "{expected} in\n{written}"
            );
        }
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
        assert_eq!(t.records()[0].functions["main"].span, Some((3, Some(9))));
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
