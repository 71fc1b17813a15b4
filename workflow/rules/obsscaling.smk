# Observational Scaling Laws (Ruan, Maddison, Hashimoto 2024). Placeholder: being written.


rule obsscaling:
    input:
        "results/{SCALE}/obsscaling/numbers.json".format(SCALE=SCALE),
