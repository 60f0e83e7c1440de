-- The template library: named message templates, every version kept (delivery/template_library.py).
CREATE TABLE cantata_template (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    channel TEXT NOT NULL,          -- email | sms | push | webhook
    parts TEXT NOT NULL,            -- JSON: part (subject, body, text, title...) -> template text
    description TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version)
);
