"""Built-in datasets (nothing downloaded at run time), one module each, e.g. :mod:`picoml.data.digits`;
:mod:`picoml.data.speech` synthesizes keyword clips with espeak-ng and loads Speech Commands folders."""
