"""The dashboard's widgets: settings form, loss plot and the run panels."""
