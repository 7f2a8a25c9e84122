//! One line in, one line per word out: words are separated by runs of
//! spaces or tabs. A line without words gets no reply line.

use yell_plugin::{Config, LinePlugin, Reply};

struct Splitter;

impl LinePlugin for Splitter {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&[])?;
        Ok(Splitter)
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        for word in line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|word| !word.is_empty())
        {
            reply.push(word);
        }
        Ok(())
    }
}

yell_plugin::export_plugin!(Splitter);
