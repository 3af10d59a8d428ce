"""The historical load: everything under the song and log prefixes, in sized chunks, resumable."""
