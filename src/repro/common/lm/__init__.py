"""Small language models trained from scratch: corpora, tokenizers, models, training, scoring, sampling.

Used by the tiny scale of six papers (ttt, datavalue, pplcorr, entigraph, obsscaling,
distalign). Typical use::

    from repro.common.lm import corpora, tokenizer, models, trainer, evaluate, sampling

    docs = corpora.load_mix("default")
    train_docs, heldout_docs = corpora.split_documents(docs, heldout_frac=0.1, seed=0)
    tok = tokenizer.train_tokenizer([d.text for d in train_docs], "bpe", vocab_size=2048)
    train_ids = tokenizer.encode_documents(tok, [d.text for d in train_docs])
    cfg = models.ModelConfig(vocab_size=tok.vocab_size)
    model = models.build_model(cfg)
    history = trainer.train(model, train_ids, trainer.TrainConfig(steps=1000))
    models.save_model_dir("results/tiny/x/model", model, cfg, tok)
    bpb = evaluate.bits_per_byte(model, tok, [d.text for d in heldout_docs])
    new_ids = sampling.generate(model, [tok.encode("ROMEO:")], max_new_tokens=32)

The four middle steps (config, seeded init, train config, train; optionally save) are one
call for a tiny model trained from scratch inside the pipeline::

    from repro.common.lm.recipe import TinyLMSpec, train_tiny_lm

    lm = train_tiny_lm(TinyLMSpec(vocab_size=tok.vocab_size, steps=300, seed=0), train_ids)
    lm.model, lm.history  # lm.save(path, tok) writes a model directory

Scoring (losses, bits per byte, log-probs) is :mod:`repro.common.lm.evaluate`; sampling
(greedy/temperature/top-k, KV cache) is :mod:`repro.common.lm.sampling`. Count-based n-gram
models (Witten-Bell, add-k; the ttt floors and the pplcorr byte population) are
:mod:`repro.common.lm.ngram`.

The module contract every model follows is documented in :mod:`repro.common.lm.models`.
"""
