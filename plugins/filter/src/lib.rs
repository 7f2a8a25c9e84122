//! Drops every line that contains the configured word (`word=...`,
//! required, matched as bytes and case-sensitively); other lines pass
//! unchanged.

use yell_plugin::{Config, LinePlugin, Reply};

struct Filter {
    word: Vec<u8>,
}

impl LinePlugin for Filter {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&["word"])?;
        match config.get("word") {
            Some(word) if !word.is_empty() => Ok(Filter {
                word: word.as_bytes().to_vec(),
            }),
            _ => Err("config `word` is required: the word whose lines are dropped".into()),
        }
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        if !line
            .windows(self.word.len())
            .any(|window| window == self.word)
        {
            reply.push(line);
        }
        Ok(())
    }
}

yell_plugin::export_plugin!(Filter);
